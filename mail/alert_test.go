package mail

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackInStockRenders(t *testing.T) {
	m := BackInStock("ann@example.com", BackInStockData{Name: "Ann", Title: "Mug <b>&</b> saucer",
		Options: "colour: red", Link: "https://shop.example/v1/products/p1"})
	assert.Equal(t, "Back in stock: Mug <b>&</b> saucer", m.Subject)
	_, err := m.validate("test")
	require.NoError(t, err, "the message is sendable")
	assert.Contains(t, m.Text, "Hello Ann,")
	assert.Contains(t, m.Text, "Mug <b>&</b> saucer (colour: red) is back in stock")
	assert.Contains(t, m.Text, "https://shop.example/v1/products/p1")
	assert.Contains(t, m.HTML, "Mug &lt;b&gt;&amp;&lt;/b&gt; saucer", "the title is escaped in HTML")
	assert.NotContains(t, m.HTML, "<b>&</b>")
	assert.Contains(t, m.HTML, `href="https://shop.example/v1/products/p1"`)
}
