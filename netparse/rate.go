package netparse

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
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

// byteRateRE is rsync's --bwlimit: a number, a unit, B for powers of 1000.
var byteRateRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)([KMGkmg]?)([Bb]?)$`)

// ParseByteRate reads rsync's --bwlimit syntax (a pool's rsync.bwlimit) as
// bytes per second, 0 for none: a number of KiB, or with a K, M or G
// suffix (powers of 1024; followed by B, of 1000), or B for bytes.
func ParseByteRate(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	m := byteRateRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a rate (as 8M, 512K, 1.5G)", s)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, err
	}
	base := 1024.0
	if m[3] != "" {
		base = 1000
	}
	switch strings.ToUpper(m[2]) {
	case "":
		if m[3] == "" {
			v *= 1024 // KiB, rsync's unit
		}
	case "K":
		v *= base
	case "M":
		v *= base * base
	case "G":
		v *= base * base * base
	}
	return v, nil
}
