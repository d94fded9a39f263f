package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"sort"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/emporium-shop/emporium"
)

// Names of the templates Render knows.
const (
	// TemplateVerifyEmail asks a new user to confirm their address.
	TemplateVerifyEmail = "verify_email"
	// TemplateResetPassword carries a password-reset link.
	TemplateResetPassword = "reset_password"
	// TemplateEmailChange asks a user to confirm a new address.
	TemplateEmailChange = "email_change"
	// TemplateOrderConfirmed tells a buyer their order is confirmed.
	TemplateOrderConfirmed = "order_confirmed"
	// TemplateOrderCancelled tells a buyer their order was cancelled.
	TemplateOrderCancelled = "order_cancelled"
	// TemplateVendorOrder tells a vendor of a new order of theirs to ship.
	TemplateVendorOrder = "vendor_order"
	// TemplateOrderShipped tells a buyer a shipment of their order left,
	// with its carrier and tracking number.
	TemplateOrderShipped = "order_shipped"
	// TemplateOrderDelivered tells a buyer a shipment was delivered.
	TemplateOrderDelivered = "order_delivered"
)

// Lifetimes the mails state for their links (DESIGN §9). The auth package
// issues its tokens with these lifetimes so that what a mail promises is
// what the server enforces.
const (
	// VerifyEmailTTL is how long an email-verification link works.
	VerifyEmailTTL = 24 * time.Hour
	// ResetPasswordTTL is how long a password-reset link works.
	ResetPasswordTTL = time.Hour
	// EmailChangeTTL is how long the link confirming a new address works.
	EmailChangeTTL = 24 * time.Hour
)

// LinkData is what the account templates render: a greeting name, the
// link with its one-time token, and how long the link works, in words.
type LinkData struct {
	// Name greets the user; when empty the mail says just "Hello".
	Name string
	// Link is the absolute link the user opens; see Link.
	Link string
	// Expiry is the lifetime of the link in words, such as "24 hours".
	Expiry string
}

//go:embed templates/*.txt templates/*.html
var templateFS embed.FS

// mailTemplate is one parsed template: the text set defines "subject" and
// renders the plain-text body from "layout"; the HTML set renders the HTML
// body from "layout".
type mailTemplate struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// templates holds every template, parsed once at start-up: they are part
// of the binary, so a template that does not parse is a bug that must stop
// the program (and fails the tests) rather than surface in a signup.
var templates = mustParseTemplates(TemplateVerifyEmail, TemplateResetPassword, TemplateEmailChange,
	TemplateOrderConfirmed, TemplateOrderCancelled, TemplateVendorOrder, TemplateBackInStock,
	TemplateOrderShipped, TemplateOrderDelivered)

// htmlFuncs are the helpers of the HTML templates.
var htmlFuncs = htmltemplate.FuncMap{
	// button passes a link and its label to the "button" template, which
	// can take only one argument.
	"button": func(link, label string) map[string]string {
		return map[string]string{"Link": link, "Label": label}
	},
}

func mustParseTemplates(names ...string) map[string]mailTemplate {
	out := make(map[string]mailTemplate, len(names))
	for _, name := range names {
		text := texttemplate.Must(texttemplate.New(name).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.txt", "templates/"+name+".txt"))
		html := htmltemplate.Must(htmltemplate.New(name).Option("missingkey=error").Funcs(htmlFuncs).
			ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
		out[name] = mailTemplate{text: text, html: html}
	}
	return out
}

// Render renders the template called name with data and returns the
// subject, the plain-text body and the HTML body. The text body is rendered
// with text/template and the HTML body with html/template, which escapes
// data for its context, so a user's name or a product's title cannot
// inject markup. The account templates take a LinkData, the order
// templates an OrderData. An unknown name or a rendering failure is an
// *emporium.Error with code EINTERNAL: both are bugs of the caller, not of
// the user.
func Render(name string, data any) (subject, text, html string, err error) {
	const op = "mail.Render"
	t, ok := templates[name]
	if !ok {
		return "", "", "", &emporium.Error{
			Code:    emporium.EINTERNAL,
			Op:      op,
			Message: fmt.Sprintf("unknown mail template %q; known: %s", name, strings.Join(templateNames(), ", ")),
		}
	}
	var b bytes.Buffer
	if err := t.text.ExecuteTemplate(&b, "subject", data); err != nil {
		return "", "", "", &emporium.Error{Code: emporium.EINTERNAL, Op: op, Message: "cannot render the subject of mail template " + name, Err: err}
	}
	// A subject is one line; collapsing whitespace keeps a template's
	// formatting from producing a header with a line break in it.
	subject = strings.Join(strings.Fields(b.String()), " ")
	b.Reset()
	if err := t.text.ExecuteTemplate(&b, "layout", data); err != nil {
		return "", "", "", &emporium.Error{Code: emporium.EINTERNAL, Op: op, Message: "cannot render the text body of mail template " + name, Err: err}
	}
	text = b.String()
	b.Reset()
	if err := t.html.ExecuteTemplate(&b, "layout", data); err != nil {
		return "", "", "", &emporium.Error{Code: emporium.EINTERNAL, Op: op, Message: "cannot render the HTML body of mail template " + name, Err: err}
	}
	html = b.String()
	return subject, text, html, nil
}

// templateNames lists the known templates, sorted, for error messages.
func templateNames() []string {
	names := make([]string, 0, len(templates))
	for name := range templates {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// linkMessage renders one of the account templates into a Message.
func linkMessage(template, to, name, link string, ttl time.Duration) Message {
	subject, text, html, err := Render(template, LinkData{Name: name, Link: link, Expiry: duration(ttl)})
	if err != nil {
		// The templates are embedded and LinkData has every field they
		// use, so this is a bug in a template, which the tests catch.
		panic(err)
	}
	return Message{To: to, Subject: subject, Text: text, HTML: html}
}

// VerifyEmail returns the mail that asks the user called name to confirm
// the address to by opening link, which expires after VerifyEmailTTL.
func VerifyEmail(to, name, link string) Message {
	return linkMessage(TemplateVerifyEmail, to, name, link, VerifyEmailTTL)
}

// ResetPassword returns the mail that lets the user called name choose a
// new password by opening link, which expires after ResetPasswordTTL.
func ResetPassword(to, name, link string) Message {
	return linkMessage(TemplateResetPassword, to, name, link, ResetPasswordTTL)
}

// EmailChange returns the mail, sent to the new address to, that asks the
// user called name to confirm the change by opening link, which expires
// after EmailChangeTTL.
func EmailChange(to, name, link string) Message {
	return linkMessage(TemplateEmailChange, to, name, link, EmailChangeTTL)
}

// duration says d in words for a mail: "1 hour", "24 hours", "30 minutes".
func duration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	default:
		return d.String()
	}
}

// Link builds the link a mail carries: publicURL (the PUBLIC_URL setting,
// an absolute http or https URL that may have a base path such as
// https://shop.example/app/) joined with path (such as "/verify-email"),
// with the token in the query as token=... . Slashes where the two meet
// are collapsed, a query already in publicURL is kept, and the token is
// query-escaped, so any token yields a valid link that gives it back
// unchanged. A bad publicURL, or an empty token, is an *emporium.Error with
// code EINVALID.
func Link(publicURL, path, token string) (string, error) {
	const op = "mail.Link"
	invalid := func(format string, args ...any) error {
		return &emporium.Error{Code: emporium.EINVALID, Op: op, Message: fmt.Sprintf(format, args...)}
	}
	u, err := url.Parse(strings.TrimSpace(publicURL))
	if err != nil {
		return "", invalid("PUBLIC_URL %q is not a valid URL", publicURL)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", invalid("PUBLIC_URL %q must be an absolute http:// or https:// URL", publicURL)
	}
	if u.User != nil {
		return "", invalid("PUBLIC_URL must not contain user info")
	}
	if u.Fragment != "" || strings.Contains(publicURL, "#") {
		// The token goes in the query, which comes before a fragment; a
		// base with a fragment cannot be extended into a working link.
		return "", invalid("PUBLIC_URL %q must not contain a fragment", publicURL)
	}
	if token == "" {
		return "", invalid("the link for %q has no token", path)
	}
	u = u.JoinPath(path)
	query := u.Query()
	query.Set("token", token)
	u.RawQuery = query.Encode()
	return u.String(), nil
}
