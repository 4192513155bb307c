//go:build tools

// Package tools pins the command-line tools Hookstream's operators and tests
// use. It is a separate module so the tools' dependencies never leak into
// the main module; build them with `make tools` (binaries land in tools/bin/).
package tools

import (
	_ "github.com/nats-io/natscli/nats"
)
