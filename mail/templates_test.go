package mail

import (
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
)

func TestTemplatesRender(t *testing.T) {
	const link = "https://shop.example/verify?token=dG9rZW4tdmFsdWU"
	cases := []struct {
		name    string
		build   func(to, name, link string) Message
		subject string
		expiry  string
	}{
		{TemplateVerifyEmail, VerifyEmail, "Verify your email address", "24 hours"},
		{TemplateResetPassword, ResetPassword, "Reset your password", "1 hour"},
		{TemplateEmailChange, EmailChange, "Confirm your new email address", "24 hours"},
	}
	title := regexp.MustCompile(`<title>([^<]*)</title>`)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.build("ann@example.com", "Ann", link)
			assert.Equal(t, "ann@example.com", m.To)
			assert.Equal(t, c.subject, m.Subject)
			assert.Less(t, len(m.Subject), 50, "subjects are short")
			_, err := m.validate("test")
			require.NoError(t, err, "the message is sendable")

			assert.Contains(t, m.Text, "Hello Ann,")
			assert.Contains(t, m.Text, "\n"+link+"\n", "the link stands on a line of its own")
			assert.Contains(t, m.Text, "expires in "+c.expiry)

			assert.Contains(t, m.HTML, "Hello Ann,")
			assert.Contains(t, m.HTML, `href="`+link+`"`)
			assert.Contains(t, m.HTML, "expires in "+c.expiry)
			assert.Contains(t, m.HTML, "token=")
			match := title.FindStringSubmatch(m.HTML)
			require.NotNil(t, match)
			assert.Equal(t, m.Subject, html.UnescapeString(match[1]), "the HTML title matches the subject")

			subject, text, htmlBody, err := Render(c.name, LinkData{Name: "Ann", Link: link, Expiry: c.expiry})
			require.NoError(t, err)
			assert.Equal(t, Message{To: "ann@example.com", Subject: subject, Text: text, HTML: htmlBody}, m)
		})
	}
}

func TestTemplatesEscapeMarkupInTheName(t *testing.T) {
	const name = `<script>alert("x")</script><a href="https://evil.example">win</a>`
	for _, m := range []Message{
		VerifyEmail("a@example.com", name, "https://shop.example/v?token=t"),
		ResetPassword("a@example.com", name, "https://shop.example/r?token=t"),
		EmailChange("a@example.com", name, "https://shop.example/c?token=t"),
	} {
		assert.NotContains(t, m.HTML, "<script>")
		assert.NotContains(t, m.HTML, `<a href="https://evil.example">`)
		assert.Contains(t, m.HTML, "&lt;script&gt;")
		// The text part is plain text: the name appears as typed, which
		// no mail client renders as markup.
		assert.Contains(t, m.Text, name)
		assert.NotContains(t, m.Subject, "script", "the name stays out of the subject")
	}
}

func TestTemplatesRefuseAScriptLink(t *testing.T) {
	m := VerifyEmail("a@example.com", "Ann", "javascript:alert(1)")
	assert.NotContains(t, m.HTML, `href="javascript:`)
}

func TestTemplatesWithoutAName(t *testing.T) {
	m := ResetPassword("a@example.com", "", "https://shop.example/r?token=t")
	assert.True(t, strings.HasPrefix(m.Text, "Hello,\n"), "text starts %q", m.Text[:20])
	assert.Contains(t, m.HTML, "<p>Hello,</p>")
}

func TestRenderUnknownTemplate(t *testing.T) {
	_, _, _, err := Render("welcome", LinkData{})
	var e *emporium.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, emporium.EINTERNAL, e.Code)
	assert.Contains(t, e.Message, `"welcome"`)
	assert.Contains(t, e.Message, TemplateVerifyEmail)
}

func TestRenderWrongData(t *testing.T) {
	_, _, _, err := Render(TemplateVerifyEmail, struct{ Other string }{"x"})
	assert.True(t, emporium.IsCode(err, emporium.EINTERNAL), "err = %v", err)
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour:        "1 hour",
		24 * time.Hour:   "24 hours",
		30 * time.Minute: "30 minutes",
		time.Minute:      "1 minute",
		90 * time.Second: "1m30s",
	} {
		assert.Equal(t, want, duration(d))
	}
}

func TestLink(t *testing.T) {
	cases := []struct {
		base, path, token, want string
	}{
		{"https://shop.example", "/verify-email", "abc", "https://shop.example/verify-email?token=abc"},
		{"https://shop.example/", "/verify-email", "abc", "https://shop.example/verify-email?token=abc"},
		{"https://shop.example/", "verify-email", "abc", "https://shop.example/verify-email?token=abc"},
		{"https://shop.example//", "//verify-email", "abc", "https://shop.example/verify-email?token=abc"},
		{"https://shop.example/app", "/verify-email", "abc", "https://shop.example/app/verify-email?token=abc"},
		{"https://shop.example/app/", "/auth/reset-password", "abc", "https://shop.example/app/auth/reset-password?token=abc"},
		{"http://localhost:8080", "/verify-email", "abc", "http://localhost:8080/verify-email?token=abc"},
		{"  https://shop.example  ", "/v", "abc", "https://shop.example/v?token=abc"},
		// The token is escaped, so characters that mean something in a
		// URL come back unchanged.
		{"https://shop.example", "/v", "a+b/c=d&e f?#%", "https://shop.example/v?token=a%2Bb%2Fc%3Dd%26e+f%3F%23%25"},
		// A query in the base is kept.
		{"https://shop.example/?lang=de", "/v", "abc", "https://shop.example/v?lang=de&token=abc"},
	}
	for _, c := range cases {
		got, err := Link(c.base, c.path, c.token)
		require.NoError(t, err, "%q %q", c.base, c.path)
		assert.Equal(t, c.want, got, "%q + %q", c.base, c.path)
		u, err := url.Parse(got)
		require.NoError(t, err)
		assert.Equal(t, c.token, u.Query().Get("token"), "the token round-trips")
	}
}

func TestLinkRefusesBadInput(t *testing.T) {
	cases := []struct{ base, token string }{
		{"", "abc"},
		{"shop.example", "abc"},
		{"/relative", "abc"},
		{"ftp://shop.example", "abc"},
		{"javascript:alert(1)", "abc"},
		{"https://", "abc"},
		{"https://user:pw@shop.example", "abc"},
		{"https://shop.example/#/app", "abc"},
		{"https://shop.example", ""},
		{"https://shop example", "abc"},
	}
	for _, c := range cases {
		_, err := Link(c.base, "/v", c.token)
		assert.True(t, emporium.IsCode(err, emporium.EINVALID), "Link(%q, %q): %v", c.base, c.token, err)
	}
}
