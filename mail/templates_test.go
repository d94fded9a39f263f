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

// orderData is a two-line order with a title that tries to inject markup.
func orderData() OrderData {
	return OrderData{
		Name:    "Ann",
		OrderID: "ord_7Qx2",
		Lines: []OrderLineData{
			{Title: `Mug <script>alert("x")</script>`, Options: "Colour: blue", Quantity: 2, LineTotal: "$25.00"},
			{Title: "Tea & biscuits", Quantity: 1, LineTotal: "$9.99"},
		},
		Subtotal: "$34.99", Shipping: "$5.99", Tax: "$2.54", Total: "$43.52",
		ShipTo:            []string{"Ann Smith", "1 Main St", "Springfield, IL 62701", "United States"},
		EstimatedDelivery: "Wednesday, 7 January 2026",
		Link:              "https://shop.example/orders/ord_7Qx2",
		Reason:            "You cancelled it.",
	}
}

func TestOrderTemplatesRender(t *testing.T) {
	title := regexp.MustCompile(`<title>([^<]*)</title>`)
	cases := []struct {
		name    string
		build   func(to string, d OrderData) Message
		subject string
	}{
		{TemplateOrderConfirmed, OrderConfirmed, "Your order ord_7Qx2 is confirmed"},
		{TemplateOrderCancelled, OrderCancelled, "Your order ord_7Qx2 was cancelled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := orderData()
			m := c.build("ann@example.com", d)
			assert.Equal(t, c.subject, m.Subject)
			assert.Contains(t, m.Subject, d.OrderID)
			_, err := m.validate("test")
			require.NoError(t, err, "the message is sendable")

			for _, body := range []string{m.Text, m.HTML} {
				assert.Contains(t, body, "Hello Ann,")
				assert.Contains(t, body, d.OrderID)
				for _, amount := range []string{"$25.00", "$9.99", "$34.99", "$5.99", "$2.54", "$43.52"} {
					assert.Contains(t, body, amount)
				}
				assert.Contains(t, body, "Colour: blue")
			}
			assert.Contains(t, m.Text, "2 × "+d.Lines[0].Title+" (Colour: blue): $25.00\n")
			assert.Contains(t, m.Text, "\nTotal: $43.52\n")
			assert.Contains(t, m.Text, "\n"+d.Link+"\n", "the link stands on a line of its own")
			assert.NotContains(t, m.Text, "\n\n\n", "one blank line between parts")
			assert.Contains(t, m.HTML, `href="`+d.Link+`"`)
			match := title.FindStringSubmatch(m.HTML)
			require.NotNil(t, match)
			assert.Equal(t, m.Subject, html.UnescapeString(match[1]), "the HTML title matches the subject")

			subject, text, htmlBody, err := Render(c.name, d)
			require.NoError(t, err)
			assert.Equal(t, Message{To: "ann@example.com", Subject: subject, Text: text, HTML: htmlBody}, m)
		})
	}

	confirmed := OrderConfirmed("ann@example.com", orderData())
	assert.Contains(t, confirmed.Text, "Shipping to:\nAnn Smith\n1 Main St\nSpringfield, IL 62701\nUnited States\n")
	assert.Contains(t, confirmed.HTML, "Ann Smith<br>1 Main St<br>Springfield, IL 62701<br>United States")
	assert.Contains(t, confirmed.Text, "Estimated delivery: Wednesday, 7 January 2026")
	assert.NotContains(t, confirmed.Text, "cancelled", "the reason is the cancellation's only")

	cancelled := OrderCancelled("ann@example.com", orderData())
	assert.Contains(t, cancelled.Text, "was cancelled. You cancelled it.")
	assert.Contains(t, cancelled.HTML, "was cancelled. You cancelled it.")
	assert.Contains(t, cancelled.Text, "refunded")
}

func TestShipmentTemplatesRender(t *testing.T) {
	d := orderData()
	d.Carrier, d.TrackingNumber = "UPS", "1Z999AA10123456784"
	for _, c := range []struct {
		build   func(string, OrderData) Message
		subject string
	}{
		{OrderShipped, "Your order ord_7Qx2 has shipped"},
		{OrderDelivered, "Your order ord_7Qx2 was delivered"},
	} {
		m := c.build("ann@example.com", d)
		assert.Equal(t, c.subject, m.Subject)
		_, err := m.validate("test")
		require.NoError(t, err)
		for _, body := range []string{m.Text, m.HTML} {
			assert.Contains(t, body, "Hello Ann,")
			assert.Contains(t, body, "UPS")
			assert.Contains(t, body, "1Z999AA10123456784")
			assert.Contains(t, body, "Colour: blue")
			assert.NotContains(t, body, "$43.52", "a shipment mail shows no amounts")
		}
		assert.Contains(t, m.Text, "Carrier: UPS\nTracking number: 1Z999AA10123456784\n")
		assert.Contains(t, m.Text, "\n"+d.Link+"\n")
		assert.NotContains(t, m.Text, "\n\n\n", "one blank line between parts")
		assert.Contains(t, m.HTML, `href="`+d.Link+`"`)
	}
	d.Carrier = `<script>alert(1)</script>`
	assert.NotContains(t, OrderShipped("a@example.com", d).HTML, "<script>")
}

func TestOrderTemplatesEscapeMarkup(t *testing.T) {
	d := orderData()
	d.Name = `<b>Ann</b>`
	d.Reason = `<img src=x onerror=alert(1)>`
	d.ShipTo = []string{`<a href="https://evil.example">1 Main St</a>`}
	for _, m := range []Message{OrderConfirmed("a@example.com", d), OrderCancelled("a@example.com", d)} {
		assert.NotContains(t, m.HTML, "<script>")
		assert.Contains(t, m.HTML, "Mug &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;")
		assert.Contains(t, m.HTML, "Tea &amp; biscuits")
		assert.NotContains(t, m.HTML, "<b>Ann</b>")
		assert.NotContains(t, m.HTML, "<img")
		assert.NotContains(t, m.HTML, `<a href="https://evil.example">`)
		// The text part is plain text: the title appears as typed.
		assert.Contains(t, m.Text, d.Lines[0].Title)
	}
}

func TestOrderTemplatesWithoutOptionalParts(t *testing.T) {
	d := orderData()
	d.Name, d.ShipTo, d.EstimatedDelivery, d.Link, d.Reason = "", nil, "", "", ""
	d.Lines[0].Options = ""
	confirmed := OrderConfirmed("a@example.com", d)
	assert.True(t, strings.HasPrefix(confirmed.Text, "Hello,\n"))
	assert.NotContains(t, confirmed.Text, "Shipping to")
	assert.NotContains(t, confirmed.Text, "Estimated delivery")
	assert.NotContains(t, confirmed.HTML, "<a ")
	assert.Contains(t, confirmed.Text, "2 × "+d.Lines[0].Title+": $25.00\n")
	assert.NotContains(t, confirmed.Text, "\n\n\n", "one blank line between parts")
	cancelled := OrderCancelled("a@example.com", d)
	assert.Contains(t, cancelled.Text, "Your order ord_7Qx2 was cancelled.\n")
	assert.NotContains(t, cancelled.Text, "\n\n\n")
	assert.NotContains(t, cancelled.HTML, "<a ")
}

func TestOrderTemplatesRefuseLinkData(t *testing.T) {
	_, _, _, err := Render(TemplateOrderConfirmed, LinkData{Name: "Ann", Link: "https://shop.example/o"})
	assert.True(t, emporium.IsCode(err, emporium.EINTERNAL), "err = %v", err)
}

func TestFormatMoney(t *testing.T) {
	cases := []struct {
		amount   int64
		currency string
		want     string
	}{
		{1999, "USD", "$19.99"},
		{500, "EUR", "€5.00"},
		{500, "JPY", "¥500"},
		{0, "USD", "$0.00"},
		{5, "USD", "$0.05"},
		{-5, "EUR", "-€0.05"},
		{123456789, "USD", "$1,234,567.89"},
		{100000, "USD", "$1,000.00"},
		{99999, "USD", "$999.99"},
		{1234567, "JPY", "¥1,234,567"},
		{1250, "gbp", "£12.50"},
		{1250, "CHF", "CHF 12.50"},
		{129900, "SEK", "SEK 1,299.00"},
		{1234, "KWD", "KWD 1.234"},
		{7, "BHD", "BHD 0.007"},
		{2599, "CAD", "CA$25.99"},
		{2599, "AUD", "A$25.99"},
		{49900, "INR", "₹499.00"},
		{1500, "XTS", "XTS 15.00"},
		{1500, "", "15.00"},
		{-9223372036854775808, "USD", "-$92,233,720,368,547,758.08"},
		{9223372036854775807, "JPY", "¥9,223,372,036,854,775,807"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, FormatMoney(c.amount, c.currency), "%d %s", c.amount, c.currency)
	}
}

// The vendor's mail shows their lines, their sum and where to ship, and
// none of the buyer's payment: no shipping, tax or total.
func TestVendorOrderTemplateRenders(t *testing.T) {
	d := orderData()
	m := VendorOrder("shop@example.com", d)
	assert.Equal(t, "New order ord_7Qx2 to ship", m.Subject)
	_, err := m.validate("test")
	require.NoError(t, err)
	for _, body := range []string{m.Text, m.HTML} {
		assert.Contains(t, body, "Hello Ann,")
		assert.Contains(t, body, "$25.00")
		assert.Contains(t, body, "$34.99")
		assert.Contains(t, body, "1 Main St")
		for _, amount := range []string{"$5.99", "$2.54", "$43.52"} {
			assert.NotContains(t, body, amount, "no payment amounts")
		}
	}
	assert.NotContains(t, m.HTML, "<script>", "a title cannot inject markup")
	assert.Contains(t, m.Text, "2 × "+d.Lines[0].Title+" (Colour: blue): $25.00\n")
	assert.NotContains(t, m.Text, "\n\n\n", "one blank line between parts")
	assert.Contains(t, m.HTML, `href="`+d.Link+`"`)
}
