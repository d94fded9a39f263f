package mail

// TemplateBackInStock tells a buyer that a variant they subscribed to is
// back in stock.
const TemplateBackInStock = "back_in_stock"

// BackInStockData is what the back-in-stock template renders.
type BackInStockData struct {
	// Name greets the user; when empty the mail says just "Hello".
	Name string
	// Title is the product's title, and Options the variant's options in
	// words, such as "colour: red, size: M" (empty for none).
	Title   string
	Options string
	// Link is the absolute link of the product.
	Link string
}

// BackInStock returns the mail, to the buyer at to, that says the variant
// d describes is back in stock.
func BackInStock(to string, d BackInStockData) Message {
	subject, text, html, err := Render(TemplateBackInStock, d)
	if err != nil {
		// The template is embedded and BackInStockData has every field
		// it uses, so this is a bug in the template, which the tests catch.
		panic(err)
	}
	return Message{To: to, Subject: subject, Text: text, HTML: html}
}
