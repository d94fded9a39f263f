package mail

// OrderData is what the order templates render. Every amount is a string
// already formatted for the buyer (see FormatMoney), so that a template
// does no money maths and shows exactly what the order holds.
type OrderData struct {
	// Name greets the buyer; when empty the mail says just "Hello".
	Name string
	// OrderID names the order in the subject and the body.
	OrderID string
	// Lines are the order's lines, in the order's order.
	Lines []OrderLineData
	// Subtotal, Shipping, Tax and Total are the order's amounts.
	Subtotal string
	Shipping string
	Tax      string
	Total    string
	// ShipTo are the lines of the shipping address, one per line of the
	// mail; the confirmation leaves the address out when it is empty.
	ShipTo []string
	// EstimatedDelivery is the expected delivery date as the buyer should
	// read it; the confirmation leaves it out when it is empty.
	EstimatedDelivery string
	// Link is the absolute link to the order's page; the mail has no
	// button when it is empty.
	Link string
	// Reason says in a sentence why the order was cancelled (the
	// cancellation only); it may be empty.
	Reason string
	// Carrier and TrackingNumber are a shipment's (the shipment mails
	// only, whose Lines are the shipment's).
	Carrier        string
	TrackingNumber string
}

// OrderLineData is one line of an order as a mail shows it.
type OrderLineData struct {
	Title string
	// Options are the chosen variant's options in words, such as
	// "Colour: red, Size: M"; empty for a product without options.
	Options   string
	Quantity  int64
	LineTotal string
}

// OrderConfirmed returns the mail, to the buyer at to, that confirms the
// order d describes: its lines and amounts, where it ships and when it
// should arrive.
func OrderConfirmed(to string, d OrderData) Message {
	return orderMessage(TemplateOrderConfirmed, to, d)
}

// OrderCancelled returns the mail, to the buyer at to, that says the order
// d describes was cancelled, why (d.Reason) and what happens to the
// payment.
func OrderCancelled(to string, d OrderData) Message {
	return orderMessage(TemplateOrderCancelled, to, d)
}

// VendorOrder returns the mail, to the vendor at to, that tells them of a
// new order to ship: only their lines (d.Lines), their lines' sum
// (d.Subtotal), where to ship, and nothing of the buyer's payment; d's
// other amounts are not shown.
func VendorOrder(to string, d OrderData) Message {
	return orderMessage(TemplateVendorOrder, to, d)
}

// OrderShipped returns the mail, to the buyer at to, that tells them a
// shipment of the order left: its lines (d.Lines), carrier and tracking
// number.
func OrderShipped(to string, d OrderData) Message {
	return orderMessage(TemplateOrderShipped, to, d)
}

// OrderDelivered returns the mail, to the buyer at to, that tells them a
// shipment of the order was delivered.
func OrderDelivered(to string, d OrderData) Message {
	return orderMessage(TemplateOrderDelivered, to, d)
}

// orderMessage renders one of the order templates into a Message.
func orderMessage(template, to string, d OrderData) Message {
	subject, text, html, err := Render(template, d)
	if err != nil {
		// The templates are embedded and OrderData has every field they
		// use, so this is a bug in a template, which the tests catch.
		panic(err)
	}
	return Message{To: to, Subject: subject, Text: text, HTML: html}
}
