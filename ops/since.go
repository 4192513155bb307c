package ops

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// ParseSince reads a look-back: a Go duration ("90m", "1h") or days ("7d").
func ParseSince(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, errSince
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errSince
	}
	return d, nil
}

var errSince = errors.New("want a duration like 1h, 90m or 7d")
