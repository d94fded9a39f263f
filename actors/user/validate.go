package user

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/unicode/norm"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/userpb"
)

// The account rules that do not depend on state: syntax and length of what a
// client may set. They are exported where the caller needs them before it
// asks the grain (the signup flow claims the uniqueness documents of a valid
// username and email only).

// Limits of the account's fields.
const (
	MinUsernameLength = 3
	MaxUsernameLength = 32
	// MaxEmailLength is RFC 5321's limit on a forward path, less the brackets.
	MaxEmailLength    = emporium.MaxEmailLength
	maxEmailLocalPart = 64
	MaxNameLength     = 100 // characters
	MaxLineLength     = 200 // characters, address lines
	MaxCityLength     = 100 // characters, city and region
	MinPostalCode     = 2
	MaxPostalCode     = 12
	MinPhoneDigits    = 7
	MaxPhoneDigits    = 15
	maxAddressIDLen   = 64
	// MinStoreName and MaxStoreName bound a store name, in characters once
	// trimmed.
	MinStoreName = 2
	MaxStoreName = 80
	// MaxStoreDescription bounds a store description, in characters once
	// trimmed.
	MaxStoreDescription = 2000
)

// UsernameKey is the uniqueness key of a username, the id of the
// usernames/<key> document the signup flow claims: its NameSkeleton, so
// that "PayPal", "paypa1" and "paypaI" are one username, as store names are
// one store name.
func UsernameKey(username string) string { return NameSkeleton(username) }

// LegacyUsernameKey is the key usernames were claimed under before
// NameSkeleton: the lower-case form. Claims made then stay under it until
// RekeyUsernames claims their new key too; a signup checks both.
func LegacyUsernameKey(username string) string { return strings.ToLower(username) }

// EmailKey is the uniqueness key of an email address: its lower-case form,
// the id of the emails/<key> document. The whole address is folded: mailbox
// providers treat local parts case-insensitively in practice, and two
// accounts for Bob@x and bob@x would be one mailbox.
func EmailKey(email string) string { return strings.ToLower(email) }

// StoreNameKey is the uniqueness key of a store name, the id of the
// store_names/<key> claim: its NameSkeleton without white space and
// invisible format characters. So "Acme Tools", "ACME  tools", "AcmeTools",
// "Аcme Tools" (a Cyrillic А) and "ＡＣＭＥ Tools" (fullwidth) are one store
// name, and no vendor can pass for another by spacing, case, width or
// letters of another script that look alike.
func StoreNameKey(name string) string {
	return NameSkeleton(stripInvisible(name))
}

// LegacyStoreNameKey is the key store names were claimed under before
// NameSkeleton: the name without white space and format characters,
// case-folded. Claims made then are still under it, so a new claim checks
// it too (see the UserGrain's BecomeVendor).
func LegacyStoreNameKey(name string) string {
	return caseFold(stripInvisible(name))
}

// NameSkeleton is the form in which two names that look alike are equal, the
// one comparison of public names: NFKC (fullwidth and other compatibility
// forms become plain letters), case folding, then the confusables skeleton
// of Unicode TR 39 (letters of other scripts that look like Latin ones, and
// digits and marks that look like letters, become one prototype), from the
// Unicode confusables data (github.com/mtibben/confusables, Unicode 13),
// and case folding again, since prototypes may be capitals. Folding comes
// first so that names equal but for case stay equal; the price, as in TR
// 39's case-insensitive skeleton, is that a capital I and an l are not
// confused ("PaypaI" is not "paypal"), while a digit 1 and an l are.
func NameSkeleton(s string) string {
	return caseFold(norm.NFC.String(confusables.Skeleton(caseFold(norm.NFKC.String(s)))))
}

// stripInvisible drops white space and invisible format characters.
func stripInvisible(name string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
}

// caseFold folds s the way strings.EqualFold matches: upper then lower folds
// the letters that have several cases (the Kelvin sign, the long s).
func caseFold(s string) string {
	return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, s)
}

// CheckUsername applies the username rule: 3-32 ASCII letters, digits, '_'
// and '-'. ASCII only, so no two usernames look alike in another script. A
// refusal is EINVALID with a FieldError for "username".
func CheckUsername(username string) error {
	if fe, ok := usernameError(username); !ok {
		return emporium.InvalidFields(fe)
	}
	return nil
}

// CheckEmail applies the email syntax rule to the field named field: one
// plain address (no display name, no comments, no surrounding spaces) of at
// most 254 characters, whose domain has at least two labels. A refusal is
// EINVALID with a FieldError for field.
func CheckEmail(field, email string) error {
	if fe, ok := emailError(field, email); !ok {
		return emporium.InvalidFields(fe)
	}
	return nil
}

func usernameError(u string) (emporium.FieldError, bool) {
	const field = "username"
	switch {
	case u == "":
		return emporium.Field(field, emporium.FieldRequired, "username is required"), false
	case len(u) < MinUsernameLength:
		return emporium.Field(field, emporium.FieldTooShort, "username must have at least %d characters", MinUsernameLength), false
	case len(u) > MaxUsernameLength:
		return emporium.Field(field, emporium.FieldTooLong, "username must have at most %d characters", MaxUsernameLength), false
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return emporium.Field(field, emporium.FieldInvalid, "username may contain only letters a-z, digits, '_' and '-'"), false
		}
	}
	return emporium.FieldError{}, true
}

func emailError(field, e string) (emporium.FieldError, bool) {
	if e == "" {
		return emporium.Field(field, emporium.FieldRequired, "%s is required", field), false
	}
	if utf8.RuneCountInString(e) > MaxEmailLength { // characters, as the contract counts
		return emporium.Field(field, emporium.FieldTooLong, "%s must have at most %d characters", field, MaxEmailLength), false
	}
	bad := emporium.Field(field, emporium.FieldInvalid, "%s is not a valid email address", field)
	if !utf8.ValidString(e) || strings.ContainsFunc(e, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`"<>(),;:\[]`, r)
	}) {
		return bad, false
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Name != "" || addr.Address != e {
		return bad, false
	}
	local, domain, _ := strings.Cut(e, "@")
	if local == "" || len(local) > maxEmailLocalPart || strings.Contains(domain, "@") {
		return bad, false
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return bad, false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return bad, false
		}
	}
	return emporium.FieldError{}, true
}

// cleanText trims s and checks it as a single-line text of at most max
// characters; required says whether it may be empty.
func cleanText(field, s string, required bool, max int) (string, *emporium.FieldError) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" && required:
		fe := emporium.Field(field, emporium.FieldRequired, "%s is required", field)
		return "", &fe
	case !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl):
		fe := emporium.Field(field, emporium.FieldInvalid, "%s contains characters that are not allowed", field)
		return "", &fe
	case utf8.RuneCountInString(s) > max:
		fe := emporium.Field(field, emporium.FieldTooLong, "%s must have at most %d characters", field, max)
		return "", &fe
	}
	return s, nil
}

// cleanStoreName trims a store name and checks it: one line of 2-80
// characters.
func cleanStoreName(s string) (string, *emporium.FieldError) {
	const field = "store_name"
	s, fe := cleanText(field, s, true, MaxStoreName)
	if fe == nil && utf8.RuneCountInString(s) < MinStoreName {
		e := emporium.Field(field, emporium.FieldTooShort, "store_name must have at least %d characters", MinStoreName)
		fe = &e
	}
	return s, fe
}

// cleanDescription trims a store description and checks it: at most 2000
// characters, where line breaks and tabs are the only control characters
// allowed. It may be empty.
func cleanDescription(s string) (string, *emporium.FieldError) {
	const field = "description"
	s = strings.TrimSpace(s)
	switch {
	case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t'
	}):
		fe := emporium.Field(field, emporium.FieldInvalid, "description contains characters that are not allowed")
		return "", &fe
	case utf8.RuneCountInString(s) > MaxStoreDescription:
		fe := emporium.Field(field, emporium.FieldTooLong, "description must have at most %d characters", MaxStoreDescription)
		return "", &fe
	}
	return s, nil
}

// cleanPhone checks an E.164-style phone number: '+', then 7-15 digits, the
// first not 0; spaces, dots and dashes between digits are dropped. The
// compact form is returned; "" stays "".
func cleanPhone(field, s string) (string, *emporium.FieldError) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	bad := func() (string, *emporium.FieldError) {
		fe := emporium.Field(field, emporium.FieldInvalid, "%s must be '+' followed by %d-%d digits, e.g. +14155550123",
			field, MinPhoneDigits, MaxPhoneDigits)
		return "", &fe
	}
	if len(s) > 2*MaxPhoneDigits+1 || s[0] != '+' {
		return bad()
	}
	var b strings.Builder
	b.WriteByte('+')
	prevDigit := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
			prevDigit = true
		case (c == ' ' || c == '-' || c == '.') && prevDigit && i+1 < len(s):
			prevDigit = false
		default:
			return bad()
		}
	}
	out := b.String()
	if n := len(out) - 1; n < MinPhoneDigits || n > MaxPhoneDigits || out[1] == '0' {
		return bad()
	}
	return out, nil
}

// cleanPostalCode checks a postal code: 2-12 letters, digits, spaces and
// dashes, after trimming. Letters are kept as given.
func cleanPostalCode(s string) (string, *emporium.FieldError) {
	const field = "postal_code"
	s = strings.TrimSpace(s)
	if s == "" {
		fe := emporium.Field(field, emporium.FieldRequired, "postal_code is required")
		return "", &fe
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ' || c == '-') {
			fe := emporium.Field(field, emporium.FieldInvalid, "postal_code may contain only letters, digits, spaces and dashes")
			return "", &fe
		}
	}
	if len(s) < MinPostalCode || len(s) > MaxPostalCode {
		fe := emporium.Field(field, emporium.FieldInvalid, "postal_code must have %d-%d characters", MinPostalCode, MaxPostalCode)
		return "", &fe
	}
	return s, nil
}

// cleanCountry upper-cases an ISO 3166-1 alpha-2 code and checks that it is
// assigned.
func cleanCountry(s string) (string, *emporium.FieldError) {
	const field = "country"
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		fe := emporium.Field(field, emporium.FieldRequired, "country is required")
		return "", &fe
	}
	if !countries[s] {
		fe := emporium.Field(field, emporium.FieldInvalid, "country must be an ISO 3166-1 alpha-2 code such as US or DE")
		return "", &fe
	}
	return s, nil
}

func validAddressID(id string) bool {
	if id == "" || len(id) > maxAddressIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// cleanAddress checks an address's fields and returns them trimmed and
// normalised (country upper case, phone compact), with every field error at
// once. The default flags are not set here.
func cleanAddress(in *pb.AddressFields) (*pb.Address, []emporium.FieldError) {
	if in == nil {
		return nil, []emporium.FieldError{emporium.Field("address", emporium.FieldRequired, "address is required")}
	}
	var errs []emporium.FieldError
	keep := func(v string, fe *emporium.FieldError) string {
		if fe != nil {
			errs = append(errs, *fe)
		}
		return v
	}
	a := &pb.Address{}
	a.FullName = keep(cleanText("full_name", in.FullName, true, MaxNameLength))
	a.Line1 = keep(cleanText("line1", in.Line1, true, MaxLineLength))
	a.Line2 = keep(cleanText("line2", in.Line2, false, MaxLineLength))
	a.City = keep(cleanText("city", in.City, true, MaxCityLength))
	a.Region = keep(cleanText("region", in.Region, false, MaxCityLength))
	a.PostalCode = keep(cleanPostalCode(in.PostalCode))
	a.Country = keep(cleanCountry(in.Country))
	a.Phone = keep(cleanPhone("phone", in.Phone))
	return a, errs
}

// countries are the 249 officially assigned ISO 3166-1 alpha-2 codes
// (reserved, transitional and user-assigned codes such as UK, EU or XK are
// not addresses a carrier accepts).
var countries = func() map[string]bool {
	const codes = `
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
DE DJ DK DM DO DZ
EC EE EG EH ER ES ET
FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
HK HM HN HR HT HU
ID IE IL IM IN IO IQ IR IS IT
JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ
LA LB LC LI LK LR LS LT LU LV LY
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
NA NC NE NF NG NI NL NO NP NR NU NZ
OM
PA PE PF PG PH PK PL PM PN PR PS PT PW PY
QA
RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
UA UG UM US UY UZ
VA VC VE VG VI VN VU
WF WS
YE YT
ZA ZM ZW`
	m := make(map[string]bool, 249)
	for _, c := range strings.Fields(codes) {
		m[c] = true
	}
	return m
}()
