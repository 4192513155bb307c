package payments

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Currencies whose minor unit is not a hundredth (Stripe's list of
// zero-decimal and three-decimal currencies).
var currencyDecimals = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "JPY": 0, "KMF": 0, "KRW": 0, "MGA": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "JOD": 3, "KWD": 3, "OMR": 3, "TND": 3,
}

// Decimals is the number of decimals of currency's minor unit (2 unless
// Stripe says otherwise).
func Decimals(currency string) int {
	if d, ok := currencyDecimals[strings.ToUpper(currency)]; ok {
		return d
	}
	return 2
}

// Decimal writes an amount in minor units as an exact decimal in the
// currency's unit: 149900 USD → "1499.00", 5000 JPY → "5000", 1234 KWD →
// "1.234".
func Decimal(minor int64, currency string) json.Number {
	d := Decimals(currency)
	neg := minor < 0
	s := strconv.FormatUint(absU(minor), 10)
	if d > 0 {
		if len(s) <= d {
			s = strings.Repeat("0", d-len(s)+1) + s
		}
		s = s[:len(s)-d] + "." + s[len(s)-d:]
	}
	if neg {
		s = "-" + s
	}
	return json.Number(s)
}

func absU(v int64) uint64 {
	if v < 0 {
		return uint64(-(v + 1)) + 1
	}
	return uint64(v)
}
