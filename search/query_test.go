package search

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestWords pins how a text query splits into required words and which of
// them tolerate a typo.
func TestWords(t *testing.T) {
	cases := map[string][]Word{
		"":                     {},
		"  ?! ":                {},
		"Lamp":                 {{Text: "lamp"}},
		"wireless headphones":  {{Text: "wireless", Fuzziness: 1}, {Text: "headphones", Fuzziness: 1}},
		"Men's coat":           {{Text: "men's"}, {Text: "coat"}},
		"men’s":                {{Text: "men’s"}},
		"kids' shoes":          {{Text: "kids"}, {Text: "shoes", Fuzziness: 1}},
		"'quoted'":             {{Text: "quoted", Fuzziness: 1}},
		"rock'n'roll":          {{Text: "rock'n'roll", Fuzziness: 1}},
		"wi-fi 4k usb-c":       {{Text: "wi"}, {Text: "fi"}, {Text: "4k"}, {Text: "usb"}, {Text: "c"}},
		"o'neil":               {{Text: "o'neil", Fuzziness: 1}},
		"Größe 42":             {{Text: "größe", Fuzziness: 1}, {Text: "42"}},
		"it's":                 {{Text: "it's"}},
		"headphones, for DJs.": {{Text: "headphones", Fuzziness: 1}, {Text: "for"}, {Text: "djs"}},
	}
	for text, want := range cases {
		got := Words(text)
		if len(want) == 0 {
			assert.Empty(t, got, "%q", text)
			continue
		}
		assert.Equal(t, want, got, "%q", text)
	}
}
