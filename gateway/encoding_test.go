package gateway

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/hookstream/hookstream/internal/httperr"
)

// The hand-written Accepted answer is byte for byte what writeJSON (that is,
// json.Marshal plus a newline) produced, headers included.
func TestAcceptedEncoding(t *testing.T) {
	for _, a := range []Accepted{
		{Accepted: true, EventID: "wh:wh_abc:msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", StreamSeq: 1},
		{Accepted: true, EventID: "stripe:evt_1", Duplicate: true, StreamSeq: 18446744073709551615},
		{EventID: ""},
		{Accepted: true, EventID: `form:contact:<a href="x">&'\` + "\x00\x7f\u2028é\xff", StreamSeq: 42},
	} {
		want, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendAccepted(nil, &a); string(got) != string(want)+"\n" {
			t.Errorf("appendAccepted(%+v)\n got %s\nwant %s", a, got, want)
		}
		old, neu := httptest.NewRecorder(), httptest.NewRecorder()
		httperr.WriteJSON(old, 202, a)
		writeAccepted(neu, 202, &a)
		if old.Code != neu.Code || old.Body.String() != neu.Body.String() {
			t.Errorf("writeAccepted %d %q, writeJSON %d %q", neu.Code, neu.Body, old.Code, old.Body)
		}
		for k, v := range old.Header() {
			if got := neu.Header()[k]; len(got) != len(v) || got[0] != v[0] {
				t.Errorf("header %s: %q, want %q", k, got, v)
			}
		}
		if len(old.Header()) != len(neu.Header()) {
			t.Errorf("headers %v, want %v", neu.Header(), old.Header())
		}
	}
}
