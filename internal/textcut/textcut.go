// Package textcut bounds text without breaking it: every cut falls on a
// UTF-8 character boundary, so the result is as valid as the input. A cut
// inside a character would leave a broken byte sequence, which Postgres
// refuses in a text column (and with it the whole statement or COPY).
package textcut

import (
	"strings"
	"unicode/utf8"
)

// Bytes returns s cut to at most n bytes, never inside a character.
func Bytes(s string, n int) string {
	return s[:at(s, n)]
}

// Ellipsis is Bytes with "…" appended when s was cut (the mark comes on
// top of the n bytes).
func Ellipsis(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return Bytes(s, n) + "…"
}

// Runes returns s cut to at most n characters, the last of them "…" when
// s was cut: for limits counted in characters (an SMS, a chat message).
func Runes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	i := 0
	for range n - 1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + "…"
}

// PGText returns s as a Postgres text value of at most n bytes: invalid
// UTF-8 and NUL bytes, which Postgres refuses in text, are dropped.
func PGText(s string, n int) string {
	s = strings.ToValidUTF8(Bytes(s, n), "")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return s
}

// at is the length of the longest prefix of s of at most n bytes that does
// not end inside a character. Input that is already invalid is cut at n
// when no character starts in the last utf8.UTFMax bytes.
func at(s string, n int) int {
	if n >= len(s) {
		return len(s)
	}
	if n <= 0 {
		return 0
	}
	for i := n; i > n-utf8.UTFMax && i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return i
		}
	}
	return n
}
