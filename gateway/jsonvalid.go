package gateway

import "encoding/json"

// jsonValid is encoding/json's validator; its scanner is iterative and caps
// nesting (10,000 levels), so hostile depth cannot exhaust the stack.
func jsonValid(b []byte) bool { return json.Valid(b) }
