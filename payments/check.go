package payments

import (
	"github.com/emporium-shop/emporium"
)

// The checks every provider makes of a request before it calls out. Each
// adds the field errors of one part of the request to fields, so that a
// refusal names every field at fault at once.

// CheckKey adds the field error of a request's idempotency key: a request
// without one is refused rather than given a random key, which a retry
// could not repeat; and one longer than limit (the provider's own limit;
// 0 for none) too.
func CheckKey(fields []emporium.FieldError, key string, limit int) []emporium.FieldError {
	switch {
	case key == "":
		fields = append(fields, emporium.Field("key", emporium.FieldRequired, "an idempotency key is required"))
	case limit > 0 && len(key) > limit:
		fields = append(fields, emporium.Field("key", emporium.FieldTooLong,
			"an idempotency key has at most %d characters", limit))
	}
	return fields
}

// CheckPaymentID adds the field error of a missing payment id.
func CheckPaymentID(fields []emporium.FieldError, id string) []emporium.FieldError {
	if id == "" {
		fields = append(fields, emporium.Field("payment_id", emporium.FieldRequired, "a payment id is required"))
	}
	return fields
}

// CheckMoney adds the field errors of an amount that is not positive or a
// currency that is not an ISO 4217 code in upper case.
func CheckMoney(fields []emporium.FieldError, m Money) []emporium.FieldError {
	if m.Amount <= 0 {
		fields = append(fields, emporium.Field("amount", emporium.FieldOutOfRange, "the amount must be positive"))
	}
	if !IsCurrency(m.Currency) {
		fields = append(fields, emporium.Field("amount.currency", emporium.FieldInvalid, "the currency must be an ISO 4217 code in upper case"))
	}
	return fields
}

// IsCurrency reports whether c has the form of an ISO 4217 code: three
// upper-case letters.
func IsCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := range 3 {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}
