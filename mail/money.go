package mail

import (
	"strconv"
	"strings"
)

// FormatMoney writes an amount in minor units of currency (ISO 4217, any
// case) as an English-speaking buyer reads it: "$19.99", "€5.00", "¥500",
// "-$1,234.56". The number of decimals is the currency's (none for the yen,
// three for the Kuwaiti dinar, two for most); a currency without a symbol
// of its own is written by its code, as "CHF 12.50" or "SEK 1,299.00".
func FormatMoney(amount int64, currency string) string {
	currency = strings.ToUpper(strings.TrimSpace(currency))
	decimals := 2
	if d, ok := currencyDecimals[currency]; ok {
		decimals = d
	}
	// The magnitude as unsigned: -amount would overflow for the smallest
	// int64.
	magnitude := uint64(amount)
	sign := ""
	if amount < 0 {
		magnitude = -magnitude
		sign = "-"
	}
	digits := strconv.FormatUint(magnitude, 10)
	if len(digits) <= decimals {
		digits = strings.Repeat("0", decimals-len(digits)+1) + digits
	}
	whole, frac := digits[:len(digits)-decimals], digits[len(digits)-decimals:]
	number := groupThousands(whole)
	if decimals > 0 {
		number += "." + frac
	}
	switch symbol, ok := currencySymbols[currency]; {
	case ok:
		return sign + symbol + number
	case currency == "":
		return sign + number
	default:
		return sign + currency + " " + number
	}
}

// groupThousands puts a comma between every three digits of a whole
// number, from the right.
func groupThousands(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	head := len(digits) % 3
	if head == 0 {
		head = 3
	}
	b.WriteString(digits[:head])
	for i := head; i < len(digits); i += 3 {
		b.WriteByte(',')
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}

// currencySymbols are the symbols English text writes amounts with. The
// dollars other than the US dollar, and the yuan, carry a prefix that tells
// them apart from $ and ¥.
var currencySymbols = map[string]string{
	"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩",
	"CAD": "CA$", "AUD": "A$", "NZD": "NZ$", "HKD": "HK$", "SGD": "S$", "MXN": "MX$",
	"BRL": "R$", "CNY": "CN¥", "ZAR": "R",
}

// currencyDecimals are the ISO 4217 minor units of the currencies that do
// not have two.
var currencyDecimals = map[string]int{
	// No minor unit.
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	// Thousandths.
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}
