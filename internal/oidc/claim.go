package oidc

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckClaim refuses a claim value that a certificate must not carry as
// the claim name ("email", "sub", "iss", ...): text that is not valid UTF-8,
// or that holds a control character (C0, DEL, C1: a newline could forge a
// second line in anything that prints the identity), a line or paragraph
// separator, or an invisible format character (bidirectional overrides,
// zero-width characters, the byte-order mark), which make a certificate
// show one identity and hold another. The error is a *TokenError with
// ReasonInvalidClaim that names the claim, the character and its byte
// offset, and never quotes the value.
func CheckClaim(name, value string) error {
	for i, r := range value {
		var what string
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(value[i:], string(utf8.RuneError)):
			return tokenErr(ReasonInvalidClaim, "the token's %s claim is not valid UTF-8 (at byte %d); a certificate cannot carry it", name, i)
		case unicode.IsControl(r):
			what = "a control character"
		case r == '\u2028' || r == '\u2029':
			what = "a line or paragraph separator"
		case unicode.Is(unicode.Cf, r):
			what = "an invisible formatting character"
		default:
			continue
		}
		return tokenErr(ReasonInvalidClaim, "the token's %s claim contains %s (%U at byte %d); a certificate cannot carry it", name, what, r, i)
	}
	return nil
}

// checkEmail refuses an email claim that is not a plain ASCII address
// local@domain: the certificate's rfc822Name SAN is an IA5String, and a
// space or a missing part would make it ambiguous.
func checkEmail(email string) error {
	if err := CheckClaim("email", email); err != nil {
		return err
	}
	for i := 0; i < len(email); i++ {
		switch c := email[i]; {
		case c >= utf8.RuneSelf:
			return tokenErr(ReasonInvalidClaim, "the token's email claim contains a non-ASCII character (at byte %d); a certificate's email address must be ASCII", i)
		case c == ' ':
			return tokenErr(ReasonInvalidClaim, "the token's email claim contains a space (at byte %d); a certificate cannot carry it", i)
		}
	}
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return tokenErr(ReasonInvalidClaim, "the token's email claim %q is not an address of the form local@domain", clip(email))
	}
	return nil
}
