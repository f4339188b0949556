package netparse

import (
	"errors"
	"fmt"
	"strconv"
)

var bitUnits = map[string]uint64{
	"": 1, "bit": 1,
	"kbit": 1e3, "Mbit": 1e6, "Gbit": 1e9, "Tbit": 1e12, "Pbit": 1e15, "Ebit": 1e18,
	"Kibit": 1 << 10, "Mibit": 1 << 20, "Gibit": 1 << 30, "Tibit": 1 << 40, "Pibit": 1 << 50, "Eibit": 1 << 60,
}

// ParseBitRate parses a rate the way LXD does (units.ParseBitSizeString):
// an integer and a unit, bit, kbit, Mbit, Gbit, Tbit (powers of 1000) or
// Kibit, Mibit, Gibit, Tibit (powers of 1024); "" is 0, no limit.
func ParseBitRate(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	mult, ok := bitUnits[s[i:]]
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if i == 0 || err != nil || !ok {
		return 0, fmt.Errorf("%q is not a bit rate such as 50Mbit, 1Gbit or 512kbit", s)
	}
	if n == 0 {
		return 0, errors.New("a rate of 0 would block all traffic; unset the key for no limit")
	}
	if n > ^uint64(0)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// ValidBitRate is ParseBitRate as a key validator.
func ValidBitRate(s string) error {
	_, err := ParseBitRate(s)
	return err
}
