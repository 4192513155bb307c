package textcut

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCuts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		f    func(string, int) string
		s    string
		n    int
		want string
	}{
		{"bytes/short", Bytes, "abc", 5, "abc"},
		{"bytes/exact", Bytes, "abc", 3, "abc"},
		{"bytes/ascii", Bytes, "abcdef", 4, "abcd"},
		{"bytes/zero", Bytes, "abc", 0, ""},
		{"bytes/inside 2-byte", Bytes, "aéb", 2, "a"},
		{"bytes/after 2-byte", Bytes, "aéb", 3, "aé"},
		{"bytes/inside 3-byte", Bytes, "a日b", 3, "a"},
		{"bytes/inside 4-byte", Bytes, "a😀b", 4, "a"},
		{"bytes/after 4-byte", Bytes, "a😀b", 5, "a😀"},
		{"bytes/invalid kept as cut", Bytes, "a\x80\x80\x80\x80\x80", 4, "a\x80\x80\x80"},
		{"ellipsis/short", Ellipsis, "abc", 3, "abc"},
		{"ellipsis/cut", Ellipsis, "abcdef", 3, "abc…"},
		{"ellipsis/inside char", Ellipsis, "aéb", 2, "a…"},
		{"runes/short", Runes, "héllo", 5, "héllo"},
		{"runes/cut", Runes, "héllo wörld", 5, "héll…"},
		{"runes/one", Runes, "日本語", 1, "…"},
		{"pgtext/valid", PGText, "déjà vu", 100, "déjà vu"},
		{"pgtext/inside char", PGText, "aéb", 2, "a"},
		{"pgtext/invalid dropped", PGText, "a\xffb\xc3", 100, "ab"},
		{"pgtext/nul dropped", PGText, "a\x00b", 100, "ab"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f(tc.s, tc.n); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// Every cut of valid text at every length is valid, within the limit, and
// as long as it can be.
func TestBytes_EveryLengthValid(t *testing.T) {
	t.Parallel()
	s := strings.Repeat("aé日😀", 8)
	for n := 0; n <= len(s)+1; n++ {
		got := Bytes(s, n)
		if !utf8.ValidString(got) || len(got) > n || !strings.HasPrefix(s, got) {
			t.Fatalf("Bytes(%d) = %q", n, got)
		}
		if n < len(s) && len(got) < n-utf8.UTFMax+1 {
			t.Fatalf("Bytes(%d) = %d bytes: cut too short", n, len(got))
		}
	}
}
