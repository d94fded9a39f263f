package seed

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"unicode"
)

// The word lists the demo is made from. They are invented (brands, stores,
// authors) so that the demo names no real company or person. The category
// tree is the same for every seed, so that demos of different seeds share
// one tree and a re-run finds the categories it made.

// optionKind is a dimension variants can differ in, with the values a
// product picks some of. SKU codes go with the values, in the same order.
type optionKind struct {
	name   string
	values []string
	codes  []string
	// ordered kinds (sizes, capacities) take a contiguous run of values so
	// that a product offers 8-12 in, not 8 in and 14 in alone.
	ordered bool
	// step is the price rise from one chosen value to the next (0.2 = 20%);
	// 0 keeps every value at the product's base price.
	step float64
}

// attrKind is an attribute and how its values are made: from a pool, from a
// number range (lo, lo+step, … hi, between pre and suf), or by fn.
type attrKind struct {
	key          string
	pool         []string
	lo, hi, step int
	pre, suf     string
	fn           func(r *rand.Rand) string
}

func (a *attrKind) value(r *rand.Rand) string {
	switch {
	case a.fn != nil:
		return a.fn(r)
	case a.pool != nil:
		return pick(r, a.pool)
	default:
		n := a.lo + a.step*r.IntN((a.hi-a.lo)/a.step+1)
		return a.pre + strconv.Itoa(n) + a.suf
	}
}

// list splits a |-separated word list: the tables stay readable.
func list(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "|")
}

func pick(r *rand.Rand, pool []string) string { return pool[r.IntN(len(pool))] }

var optionKinds = map[string]*optionKind{
	"color": {name: "Color",
		values: list("Black|White|Silver|Graphite|Navy|Red|Forest Green|Sky Blue|Blush Pink|Sand|Charcoal|Olive"),
		codes:  list("BLK|WHT|SLV|GPH|NVY|RED|GRN|BLU|PNK|SND|CHR|OLV")},
	"size": {name: "Size", values: list("XS|S|M|L|XL|XXL"), codes: list("XS|S|M|L|XL|XXL"), ordered: true},
	"sml":  {name: "Size", values: list("S|M|L"), codes: list("S|M|L"), ordered: true},
	"shoe": {name: "Size",
		values:  list("US 6|US 6.5|US 7|US 7.5|US 8|US 8.5|US 9|US 9.5|US 10|US 10.5|US 11|US 12|US 13"),
		codes:   list("060|065|070|075|080|085|090|095|100|105|110|120|130"),
		ordered: true},
	"storage": {name: "Storage", values: list("64 GB|128 GB|256 GB|512 GB|1 TB|2 TB"),
		codes: list("64G|128G|256G|512G|1T|2T"), ordered: true, step: 0.2},
	"pack": {name: "Pack", values: list("1-Pack|2-Pack|3-Pack|4-Pack|6-Pack"),
		codes: list("1PK|2PK|3PK|4PK|6PK"), ordered: true, step: 0.8},
	"screen": {name: "Screen Size", values: list("24 in|27 in|32 in|34 in"),
		codes: list("24IN|27IN|32IN|34IN"), ordered: true, step: 0.25},
	"switch": {name: "Switches", values: list("Linear|Tactile|Clicky"), codes: list("LIN|TAC|CLK")},
	"kit": {name: "Kit", values: list("Body Only|Kit with 24-70mm Lens|Creator Kit"),
		codes: list("BODY|KIT|CRTR"), ordered: true, step: 0.35},
	"pan": {name: "Size", values: list("8 in|10 in|12 in|14 in"),
		codes: list("8IN|10IN|12IN|14IN"), ordered: true, step: 0.2},
	"quarts": {name: "Capacity", values: list("1.5 qt|2 qt|3 qt|4 qt|5.5 qt|7 qt"),
		codes: list("15QT|2QT|3QT|4QT|55QT|7QT"), ordered: true, step: 0.15},
	"bed": {name: "Size", values: list("Twin|Full|Queen|King|California King"),
		codes: list("TW|FL|QN|KG|CK"), ordered: true, step: 0.15},
	"pillow": {name: "Size", values: list("Standard|Queen|King"), codes: list("STD|QN|KG"), ordered: true, step: 0.1},
	"scent": {name: "Scent",
		values: list("Unscented|Lavender|Citrus Grove|Sandalwood|Vanilla Bean|Eucalyptus Mint|Sea Salt"),
		codes:  list("UNS|LAV|CIT|SDW|VAN|EUC|SEA")},
	"thickness": {name: "Thickness", values: list("3 mm|4 mm|6 mm|8 mm"),
		codes: list("3MM|4MM|6MM|8MM"), ordered: true, step: 0.15},
	"pounds": {name: "Weight", values: list("5 lb|10 lb|15 lb|20 lb|25 lb|30 lb|40 lb|50 lb"),
		codes: list("05LB|10LB|15LB|20LB|25LB|30LB|40LB|50LB"), ordered: true, step: 0.5},
	"tent": {name: "Capacity", values: list("1-Person|2-Person|3-Person|4-Person|6-Person"),
		codes: list("1P|2P|3P|4P|6P"), ordered: true, step: 0.25},
	"temp": {name: "Temperature Rating", values: list("40°F|30°F|15°F|0°F"),
		codes: list("40F|30F|15F|0F"), ordered: true, step: 0.2},
	"ounces": {name: "Capacity", values: list("12 oz|20 oz|26 oz|32 oz|40 oz"),
		codes: list("12OZ|20OZ|26OZ|32OZ|40OZ"), ordered: true, step: 0.12},
	"format": {name: "Format", values: list("Paperback|Hardcover|Collector's Edition"),
		codes: list("PB|HC|CE"), ordered: true, step: 0.6},
	"pieces": {name: "Pieces", values: list("300|500|1000|1500|2000"),
		codes: list("300|500|1000|1500|2000"), ordered: true, step: 0.2},
	"smlx": {name: "Size", values: list("Small|Medium|Large|Extra Large"),
		codes: list("SM|MD|LG|XL"), ordered: true, step: 0.4},
	"ml": {name: "Size", values: list("30 ml|50 ml|100 ml|200 ml"),
		codes: list("30ML|50ML|100ML|200ML"), ordered: true, step: 0.5},
	"hose": {name: "Length", values: list("25 ft|50 ft|75 ft|100 ft"),
		codes: list("25FT|50FT|75FT|100FT"), ordered: true, step: 0.3},
	"fuel": {name: "Fuel", values: list("Propane|Natural Gas"), codes: list("LP|NG"), ordered: true, step: 0.05},
}

var attrKinds = map[string]*attrKind{
	"battery":      {key: "Battery Life", lo: 6, hi: 60, step: 2, suf: " hours"},
	"connectivity": {key: "Connectivity", pool: list("Bluetooth 5.3|Bluetooth 5.2|Bluetooth 5.0|USB-C and Bluetooth|2.4 GHz wireless and Bluetooth")},
	"warranty":     {key: "Warranty", pool: list("1 year|2 years|3 years|90 days|Limited lifetime")},
	"grams":        {key: "Weight", lo: 300, hi: 2400, step: 10, suf: " g"},
	"lightGrams":   {key: "Weight", lo: 150, hi: 450, step: 5, suf: " g"},
	"driver":       {key: "Driver Size", pool: list("10 mm|12 mm|40 mm|50 mm")},
	"water":        {key: "Water Resistance", pool: list("IPX4|IPX5|IPX7|IP67")},
	"laptopScreen": {key: "Screen Size", pool: list("13.3 in|14 in|15.6 in|16 in")},
	"phoneScreen":  {key: "Screen Size", pool: list("6.1 in|6.3 in|6.4 in|6.7 in|6.9 in")},
	"tabletScreen": {key: "Screen Size", pool: list("8.3 in|10.2 in|10.9 in|11 in|12.9 in")},
	"memory":       {key: "Memory", pool: list("8 GB|16 GB|32 GB|64 GB")},
	"mobileMemory": {key: "Memory", pool: list("4 GB|6 GB|8 GB|12 GB")},
	"processor":    {key: "Processor", pool: list("8-core|10-core|12-core|14-core|16-core")},
	"resolution":   {key: "Resolution", pool: list("1920 x 1080|2560 x 1440|3440 x 1440|3840 x 2160")},
	"refresh":      {key: "Refresh Rate", pool: list("60 Hz|75 Hz|144 Hz|165 Hz|240 Hz")},
	"ports":        {key: "Ports", pool: list("HDMI, DisplayPort|HDMI, USB-C|2x HDMI, DisplayPort, USB hub")},
	"layout":       {key: "Layout", pool: list("Full-size|Tenkeyless|75%|65%")},
	"camera":       {key: "Main Camera", pool: list("12 MP|48 MP|50 MP|108 MP|200 MP")},
	"caseMaterial": {key: "Material", pool: list("Silicone|TPU|Leather|Polycarbonate|Aramid fiber")},
	"drop":         {key: "Drop Protection", pool: list("6 ft|8 ft|10 ft|12 ft")},
	"sensor":       {key: "Sensor", pool: list("Full-frame|APS-C|Micro Four Thirds|1-inch")},
	"megapixels":   {key: "Resolution", pool: list("20 MP|24 MP|33 MP|45 MP|61 MP")},
	"power":        {key: "Power", pool: list("Battery|Plug-in|Hardwired|Solar")},
	"app":          {key: "App", pool: list("iOS and Android|Works with major voice assistants|Local control, no cloud account needed")},
	"cookMaterial": {key: "Material", pool: list("Cast iron|Enameled cast iron|Stainless steel|Carbon steel|Hard-anodized aluminum|Copper")},
	"ovenSafe":     {key: "Oven Safe", pool: list("Up to 350°F|Up to 450°F|Up to 500°F|Up to 600°F")},
	"care":         {key: "Care", pool: list("Dishwasher safe|Hand wash recommended|Wipe clean with a damp cloth")},
	"washCare":     {key: "Care", pool: list("Machine wash cold, tumble dry low|Machine wash cold, line dry|Hand wash|Dry clean only")},
	"watts":        {key: "Power", lo: 600, hi: 1800, step: 50, suf: " W"},
	"jar":          {key: "Capacity", pool: list("24 oz|48 oz|64 oz|72 oz")},
	"cups":         {key: "Capacity", pool: list("4 cups|8 cups|10 cups|12 cups|14 cups")},
	"liters":       {key: "Capacity", pool: list("1 L|1.2 L|1.5 L|1.7 L")},
	"threadCount":  {key: "Thread Count", lo: 200, hi: 1000, step: 50},
	"textile":      {key: "Material", pool: list("100% cotton|Organic cotton|Linen|Cotton-linen blend|Bamboo viscose|Recycled polyester")},
	"origin":       {key: "Country of Origin", pool: list("USA|Portugal|Italy|Japan|Vietnam|India|Mexico|Germany|Turkey|China")},
	"fill":         {key: "Fill", pool: list("Down alternative|Shredded memory foam|Goose down|Latex|Buckwheat hulls")},
	"burnTime":     {key: "Burn Time", lo: 20, hi: 90, step: 5, suf: " hours"},
	"wax":          {key: "Wax", pool: list("Soy|Coconut-soy blend|Beeswax|Paraffin-free blend")},
	"decor":        {key: "Material", pool: list("Ceramic|Glass|Stoneware|Porcelain|Recycled glass")},
	"dimensions":   {key: "Dimensions", fn: dimensions},
	"upper":        {key: "Upper", pool: list("Leather|Suede|Knit mesh|Canvas|Recycled polyester")},
	"sole":         {key: "Sole", pool: list("Rubber|EVA foam|Lugged rubber|Cork and rubber")},
	"fit":          {key: "Fit", pool: list("Regular|Slim|Relaxed|True to size")},
	"shell":        {key: "Shell", pool: list("Nylon ripstop|Waxed cotton|Recycled polyester|Denim|Wool blend")},
	"knit":         {key: "Material", pool: list("Merino wool|Cashmere|Alpaca blend|Cotton|Wool-cashmere blend")},
	"volume":       {key: "Volume", lo: 12, hi: 65, step: 1, suf: " L"},
	"bagMaterial":  {key: "Material", pool: list("Recycled nylon|Waxed canvas|Ripstop nylon|Leather|Polyester")},
	"sleeve":       {key: "Laptop Sleeve", pool: list("Fits up to 13 in|Fits up to 15 in|Fits up to 16 in|None")},
	"leather":      {key: "Material", pool: list("Full-grain leather|Top-grain leather|Vegan leather|Canvas")},
	"cardSlots":    {key: "Card Slots", lo: 4, hi: 12, step: 1},
	"lens":         {key: "Lens", pool: list("Polarized|Mirrored|Gradient|Photochromic")},
	"uv":           {key: "UV Protection", pool: list("UV400|100% UVA/UVB")},
	"frame":        {key: "Frame", pool: list("Acetate|Metal|Titanium|Recycled plastic")},
	"matMaterial":  {key: "Material", pool: list("Natural rubber|TPE|Cork|PVC-free foam")},
	"ironMaterial": {key: "Material", pool: list("Cast iron|Rubber-coated steel|Neoprene-coated iron|Chrome steel")},
	"grip":         {key: "Handle", pool: list("Knurled|Contoured|Foam-padded")},
	"resistance":   {key: "Resistance", pool: list("Light to extra heavy|5-50 lb|10-80 lb|Medium")},
	"season":       {key: "Season", pool: list("3-season|4-season")},
	"kilograms":    {key: "Weight", fn: kilograms},
	"insulation":   {key: "Fill", pool: list("650-fill down|800-fill down|Synthetic insulation")},
	"packedSize":   {key: "Packed Size", pool: list("18 x 30 cm|20 x 35 cm|25 x 40 cm")},
	"certified":    {key: "Certification", pool: list("CPSC|CPSC and EN 1078|ASTM F1447")},
	"vents":        {key: "Vents", lo: 8, hi: 24, step: 1},
	"lumens":       {key: "Brightness", lo: 100, hi: 1600, step: 50, suf: " lumens"},
	"bottle":       {key: "Material", pool: list("18/8 stainless steel|BPA-free plastic|Glass with silicone sleeve")},
	"keepsCold":    {key: "Keeps Cold", lo: 12, hi: 48, step: 4, suf: " hours"},
	"pages":        {key: "Pages", lo: 96, hi: 880, step: 8},
	"language":     {key: "Language", pool: list("English|English|English|English|Spanish|French")},
	"published":    {key: "Published", lo: 1995, hi: 2025, step: 1},
	"isbn":         {key: "ISBN-13", fn: isbn},
	"age":          {key: "Age Range", pool: list("3+ years|5+ years|6-12 years|8+ years|10+ years|14+ years|Adults")},
	"pieceCount":   {key: "Pieces", lo: 100, hi: 3000, step: 50},
	"toyMaterial":  {key: "Material", pool: list("ABS plastic|FSC-certified wood|Recycled plastic|Bamboo")},
	"players":      {key: "Players", pool: list("2|2-4|2-6|3-8|1-5")},
	"playTime":     {key: "Play Time", pool: list("15 minutes|30 minutes|30-60 minutes|60-90 minutes")},
	"board":        {key: "Material", pool: list("Recycled cardboard|Wood|Linen-finish board")},
	"plush":        {key: "Material", pool: list("Polyester plush|Organic cotton|Recycled fiberfill")},
	"span":         {key: "Wingspan", lo: 80, hi: 250, step: 10, suf: " cm"},
	"kite":         {key: "Material", pool: list("Ripstop nylon|Polyester|Polyester with fiberglass frame")},
	"maxLoad":      {key: "Max Load", lo: 50, hi: 150, step: 5, suf: " kg"},
	"skinType":     {key: "Skin Type", pool: list("All skin types|Dry|Oily|Combination|Sensitive")},
	"ingredients":  {key: "Key Ingredients", pool: list("Hyaluronic acid|Niacinamide|Vitamin C|Ceramides|Squalane|Green tea extract|Shea butter|Aloe vera")},
	"crueltyFree":  {key: "Cruelty-Free", pool: list("Yes")},
	"hairType":     {key: "Hair Type", pool: list("All hair types|Fine|Curly|Color-treated|Dry")},
	"notes":        {key: "Notes", pool: list("Bergamot, cedar, musk|Rose, peony, amber|Grapefruit, vetiver|Vanilla, tonka, sandalwood|Fig, green tea, moss")},
	"blade":        {key: "Blade", pool: list("High-carbon steel|Stainless steel|Titanium-coated steel")},
	"handle":       {key: "Handle", pool: list("Fiberglass|Ash wood|Aluminum|Soft-grip rubber")},
	"hoseMaterial": {key: "Material", pool: list("Rubber|Hybrid polymer|Latex core with polyester cover")},
	"fittings":     {key: "Fittings", pool: list("Brass|Aluminum|Plastic")},
	"planter":      {key: "Material", pool: list("Terracotta|Glazed ceramic|Fiberstone|Recycled plastic|Concrete")},
	"drainage":     {key: "Drainage", pool: list("Drainage hole with plug|Self-watering reservoir|No drainage hole")},
	"outdoor":      {key: "Material", pool: list("Teak|Acacia wood|Powder-coated aluminum|Resin wicker|Recycled HDPE")},
	"hammock":      {key: "Material", pool: list("Cotton rope|Parachute nylon|Quilted polyester")},
	"cookingArea":  {key: "Cooking Area", lo: 200, hi: 900, step: 10, suf: " sq in"},
	"grillMetal":   {key: "Material", pool: list("Stainless steel|Cast iron|Porcelain-coated steel")},
	"burners":      {key: "Burners", lo: 1, hi: 5, step: 1},
}

func dimensions(r *rand.Rand) string {
	return strconv.Itoa(10+r.IntN(90)) + " x " + strconv.Itoa(10+r.IntN(90)) + " x " + strconv.Itoa(2+r.IntN(40)) + " cm"
}

func kilograms(r *rand.Rand) string {
	return strconv.Itoa(r.IntN(9)) + "." + strconv.Itoa(1+r.IntN(9)) + " kg"
}

// isbn makes a well-formed ISBN-13 in the 979-8 range, with its check digit.
func isbn(r *rand.Rand) string {
	var d [13]byte
	copy(d[:], "9798")
	for i := 4; i < 12; i++ {
		d[i] = byte('0' + r.IntN(10))
	}
	sum := 0
	for i := 0; i < 12; i++ {
		w := 1
		if i%2 == 1 {
			w = 3
		}
		sum += int(d[i]-'0') * w
	}
	d[12] = byte('0' + (10-sum%10)%10)
	return string(d[:])
}

// spec is a node of the category tree as written: a group with children or
// a leaf with what its products are made of.
type spec struct {
	name     string
	children []spec
	leaf     *leafSpec
}

type leafSpec struct {
	// nouns name the product ("Skillet"); for books, the genre ("thriller").
	nouns []string
	// features qualify it ("Cast Iron"); for books, the subtitles.
	features []string
	// min and max bound the base price, in dollars.
	min, max int64
	options  []string
	attrs    []string
}

func group(name string, children ...spec) spec { return spec{name: name, children: children} }

func leaf(name string, min, max int64, nouns, features, options, attrs string) spec {
	return spec{name: name, leaf: &leafSpec{
		nouns: list(nouns), features: list(features), min: min, max: max,
		options: list(options), attrs: list(attrs),
	}}
}

// rootSpec is a top category with what its products share: brands, title
// adjectives and description sentences.
type rootSpec struct {
	spec
	code       string
	books      bool
	brands     []string
	adjectives []string
	body       []string
}

var roots = []rootSpec{
	{spec: group("Electronics",
		group("Audio",
			leaf("Headphones", 29, 399, "Headphones|Over-Ear Headphones|On-Ear Headphones", "Wireless|Noise-Cancelling|Studio|Foldable|Hi-Res", "color", "battery|connectivity|warranty|lightGrams|driver"),
			leaf("Earbuds", 19, 279, "Earbuds|True Wireless Earbuds|Sport Earbuds", "Wireless|Noise-Cancelling|Sweatproof|Compact", "color", "battery|connectivity|warranty|water"),
			leaf("Bluetooth Speakers", 24, 349, "Speaker|Bluetooth Speaker|Portable Speaker", "Waterproof|Rugged|360-Degree|Pocket", "color", "battery|connectivity|water|warranty|grams"),
		),
		group("Computers",
			leaf("Laptops", 399, 2499, "Laptop|Notebook|Ultrabook", "Thin|14-Inch|16-Inch|OLED|Convertible", "storage|color", "laptopScreen|memory|processor|battery|kilograms|warranty"),
			leaf("Monitors", 129, 1199, "Monitor|Display|Gaming Monitor", "4K|Curved|QHD|Ultrawide|IPS", "screen", "resolution|refresh|ports|warranty"),
			leaf("Keyboards", 29, 249, "Keyboard|Mechanical Keyboard|Wireless Keyboard", "Backlit|Low-Profile|Tenkeyless|Ergonomic", "color|switch", "connectivity|layout|battery|warranty"),
		),
		group("Phones & Tablets",
			leaf("Smartphones", 199, 1399, "Smartphone|Phone", "5G|Dual-Camera|Foldable|Compact", "storage|color", "phoneScreen|mobileMemory|battery|camera|warranty"),
			leaf("Tablets", 149, 1299, "Tablet|Drawing Tablet|E-Reader", "10-Inch|Lightweight|Kids|Pro", "storage|color", "tabletScreen|battery|mobileMemory|warranty|grams"),
			leaf("Phone Cases", 9, 59, "Phone Case|Case|Folio Case", "Slim|Clear|Rugged|Leather|MagSafe-Compatible", "color", "caseMaterial|drop|warranty"),
		),
		leaf("Cameras", 249, 2499, "Mirrorless Camera|Digital Camera|Action Camera|Instant Camera", "Full-Frame|4K|Compact|Weatherproof", "kit|color", "sensor|megapixels|battery|grams|warranty"),
		leaf("Smart Home", 19, 299, "Smart Plug|Video Doorbell|Smart Thermostat|Smart Bulb|Security Camera", "Wi-Fi|Voice-Controlled|Energy-Saving|Indoor|Outdoor", "pack|color", "connectivity|power|warranty|app"),
	),
		code:       "ELE",
		brands:     list("Voltara|Sonique|Aerolux|Kestrel Labs|Pixelon|Nimbus|Arcwave|Zentro|Lumio"),
		adjectives: list("Ultra|Compact|Smart|Premium|Portable|Slim|Advanced|Essential"),
		body: list("Setup takes minutes and firmware updates arrive over the air.|" +
			"A low-power design keeps it cool and quiet through long sessions.|" +
			"The aluminum housing is light enough to carry anywhere yet built to take knocks.|" +
			"Every unit is tested before it leaves the factory.|" +
			"It works with the phones, laptops and assistants you already own.|" +
			"A USB-C port charges it fully in about an hour."),
	},
	{spec: group("Home & Kitchen",
		group("Cookware",
			leaf("Skillets", 19, 189, "Skillet|Frying Pan|Fry Pan", "Cast Iron|Nonstick|Carbon Steel|Tri-Ply|Pre-Seasoned", "pan", "cookMaterial|ovenSafe|care|grams|warranty"),
			leaf("Saucepans", 24, 179, "Saucepan|Saucepan with Lid|Saucier", "Stainless|Tri-Ply|Nonstick|Copper-Core", "quarts", "cookMaterial|ovenSafe|care|warranty"),
			leaf("Dutch Ovens", 49, 399, "Dutch Oven|Braiser|Cocotte", "Enameled|Cast Iron|Oval|Round", "quarts|color", "cookMaterial|ovenSafe|care|kilograms"),
		),
		group("Kitchen Appliances",
			leaf("Blenders", 39, 499, "Blender|Personal Blender|Countertop Blender", "High-Speed|Compact|Quiet|Vacuum", "color", "watts|jar|warranty|care"),
			leaf("Coffee Makers", 29, 899, "Coffee Maker|Espresso Machine|Pour-Over Brewer|Cold Brew Maker", "Programmable|Single-Serve|Drip|Manual", "color", "watts|cups|warranty|care"),
			leaf("Electric Kettles", 24, 149, "Electric Kettle|Gooseneck Kettle|Tea Kettle", "Variable-Temperature|Cordless|Glass|Stainless", "color", "watts|liters|warranty"),
		),
		group("Bedding",
			leaf("Sheet Sets", 39, 299, "Sheet Set|Bed Sheets|Fitted Sheet Set", "Percale|Sateen|Linen|Bamboo|Flannel", "bed|color", "threadCount|textile|washCare|origin"),
			leaf("Pillows", 19, 149, "Pillow|Bed Pillow|Side Sleeper Pillow|Memory Foam Pillow", "Down-Alternative|Cooling|Adjustable|Hypoallergenic", "pillow|pack", "fill|washCare|origin|warranty"),
		),
		group("Home Decor",
			leaf("Candles", 9, 69, "Candle|Scented Candle|Pillar Candle|Tealight Set", "Soy|Beeswax|Three-Wick|Hand-Poured", "scent", "burnTime|wax|origin"),
			leaf("Vases", 14, 199, "Vase|Bud Vase|Floor Vase", "Ceramic|Glass|Stoneware|Hand-Thrown", "color", "decor|dimensions|origin|care"),
		),
	),
		code:       "HOM",
		brands:     list("Hearthstone|Copperline|Casa Verde|Oakridge Home|Brightwell|Linnea|Kettle & Crane|Ironbark"),
		adjectives: list("Classic|Everyday|Artisan|Essential|Heritage|Modern|Signature"),
		body: list("It heats evenly and cleans up in seconds.|" +
			"Generous proportions make it just as good for weeknight dinners as for holiday crowds.|" +
			"Each piece is finished by hand, so no two are exactly alike.|" +
			"The timeless shape suits modern and traditional kitchens alike.|" +
			"Materials are chosen to last for years of daily use.|" +
			"It stores neatly and looks good enough to leave out."),
	},
	{spec: group("Fashion",
		group("Shoes",
			leaf("Sneakers", 39, 249, "Sneakers|Running Shoes|Trainers|High-Top Sneakers", "Knit|Leather|Canvas|Cushioned|Recycled", "shoe|color", "upper|sole|fit|washCare"),
			leaf("Boots", 69, 399, "Boots|Chelsea Boots|Hiking Boots|Work Boots", "Waterproof|Leather|Suede|Insulated", "shoe|color", "upper|sole|water|origin"),
			leaf("Sandals", 19, 149, "Sandals|Slides|Sport Sandals", "Leather|Cork|Recycled|Cushioned", "shoe|color", "upper|sole|origin"),
		),
		group("Men's Clothing",
			leaf("Men's T-Shirts", 12, 59, "T-Shirt|Crew Neck T-Shirt|Pocket T-Shirt|V-Neck T-Shirt", "Organic Cotton|Heavyweight|Slub|Performance|Merino", "size|color", "textile|fit|washCare|origin"),
			leaf("Men's Jackets", 59, 399, "Jacket|Rain Jacket|Down Jacket|Field Jacket|Denim Jacket", "Waterproof|Packable|Insulated|Waxed Cotton", "size|color", "shell|fit|washCare|water"),
		),
		group("Women's Clothing",
			leaf("Dresses", 29, 249, "Dress|Midi Dress|Wrap Dress|Shirt Dress|Maxi Dress", "Linen|Floral|Silk|Jersey|Tiered", "size|color", "textile|fit|washCare|origin"),
			leaf("Women's Sweaters", 39, 229, "Sweater|Cardigan|Turtleneck Sweater|Crewneck Sweater", "Cashmere|Merino|Cable-Knit|Oversized|Alpaca", "size|color", "knit|fit|washCare|origin"),
		),
		group("Bags & Accessories",
			leaf("Backpacks", 29, 249, "Backpack|Daypack|Laptop Backpack|Rolltop Backpack", "Waterproof|Canvas|Recycled|Commuter|Leather", "color", "volume|bagMaterial|sleeve|warranty"),
			leaf("Wallets", 19, 149, "Wallet|Bifold Wallet|Card Holder|Zip Wallet", "Leather|Slim|RFID-Blocking|Vegan Leather", "color", "leather|cardSlots|dimensions"),
			leaf("Sunglasses", 19, 299, "Sunglasses|Aviator Sunglasses|Round Sunglasses|Sport Sunglasses", "Polarized|Acetate|Titanium|Retro", "color", "lens|uv|frame"),
		),
	),
		code:       "FAS",
		brands:     list("Marlowe|Threadline|Norde|Vela & Co|Urban Fable|Kinfolk Supply|Solstice|Fern & Fox"),
		adjectives: list("Classic|Relaxed|Everyday|Vintage|Urban|Lightweight|Tailored|Weekend"),
		body: list("The cut is relaxed without looking oversized.|" +
			"Reinforced seams hold up to years of wear.|" +
			"It pairs as easily with jeans as with something sharper.|" +
			"Fabrics are sourced from mills that publish their environmental data.|" +
			"It softens and gets better with every wash.|" +
			"Check the size chart: most customers take their usual size."),
	},
	{spec: group("Sports & Outdoors",
		group("Fitness",
			leaf("Yoga Mats", 19, 149, "Yoga Mat|Exercise Mat|Travel Yoga Mat", "Non-Slip|Cork|Natural Rubber|Extra-Thick", "thickness|color", "dimensions|matMaterial|grams"),
			leaf("Dumbbells", 19, 499, "Dumbbell|Adjustable Dumbbell|Hex Dumbbell Pair|Kettlebell", "Rubber-Coated|Cast Iron|Neoprene|Chrome", "pounds", "ironMaterial|grip|warranty"),
			leaf("Resistance Bands", 9, 59, "Resistance Bands|Loop Bands|Tube Band Set", "Latex-Free|Fabric|Heavy|Travel", "pack|color", "resistance|washCare|warranty"),
		),
		group("Camping & Hiking",
			leaf("Tents", 79, 699, "Tent|Backpacking Tent|Dome Tent|Family Tent", "Ultralight|Freestanding|Waterproof|Instant", "tent", "season|kilograms|water|warranty"),
			leaf("Sleeping Bags", 49, 399, "Sleeping Bag|Mummy Sleeping Bag|Camp Quilt", "Down|Synthetic|Ultralight|Compressible", "temp", "insulation|kilograms|packedSize"),
			leaf("Hiking Packs", 59, 349, "Hiking Pack|Backpacking Pack|Trail Daypack", "Ventilated|Ultralight|Hydration-Ready", "sml|color", "volume|kilograms|bagMaterial|warranty"),
		),
		group("Cycling",
			leaf("Bike Helmets", 39, 299, "Bike Helmet|Road Helmet|Mountain Bike Helmet|Commuter Helmet", "Aero|Ventilated|Lightweight|LED-Integrated", "sml|color", "certified|lightGrams|vents"),
			leaf("Bike Lights", 14, 149, "Bike Light Set|Headlight|Tail Light", "Rechargeable|USB-C|Ultra-Bright|Smart", "pack", "lumens|battery|water"),
		),
		leaf("Water Bottles", 12, 59, "Water Bottle|Insulated Bottle|Tumbler|Sports Bottle", "Insulated|Stainless|Leakproof|BPA-Free", "ounces|color", "bottle|keepsCold|care"),
	),
		code:       "SPO",
		brands:     list("Summit Ridge|Trailhawk|Apex Motion|Bluefin|Ironpeak|Stridewell|Cedar & Pine|Velocity"),
		adjectives: list("Pro|Trail|All-Weather|Lightweight|Performance|Endurance|Alpine"),
		body: list("Field-tested by guides and weekend athletes alike.|" +
			"It packs down small and weighs next to nothing.|" +
			"Built to shrug off rain, mud and the occasional drop.|" +
			"Reflective details keep you visible after dark.|" +
			"Designed with coaches to support good form.|" +
			"Every seam and buckle is rated for hard use."),
	},
	{spec: group("Books",
		group("Fiction",
			leaf("Mystery & Thriller", 9, 32, "mystery|thriller|crime novel", "A Novel|A Mystery|A Thriller|A Detective Story", "format", "pages|language|published|isbn"),
			leaf("Science Fiction & Fantasy", 9, 34, "space opera|fantasy epic|science fiction novel", "A Novel|Book One of the Ember Cycle|A Starfarer Novel", "format", "pages|language|published|isbn"),
			leaf("Literary Fiction", 10, 30, "novel|literary novel|story collection", "A Novel|Stories", "format", "pages|language|published|isbn"),
		),
		group("Non-Fiction",
			leaf("Biographies", 12, 38, "biography|memoir", "A Life|A Memoir|The Untold Story", "format", "pages|language|published|isbn"),
			leaf("History", 12, 45, "history|narrative history", "A History|The Untold Story|A New History", "format", "pages|language|published|isbn"),
			leaf("Essays", 12, 32, "essay collection|collection of essays", "Essays|On Reading and Living|Notes from a Small Town", "format", "pages|language|published|isbn"),
		),
		leaf("Children's Books", 6, 24, "picture book|chapter book|bedtime story collection", "A Picture Book|Bedtime Stories|An Adventure", "format", "pages|language|published|isbn|age"),
	),
		code:       "BOO",
		books:      true,
		brands:     list("Harbor Lane Press|Quillfeather Books|Northlight Publishing|Blue Heron Press|Old Mill Editions|Lanternfish Books|Meridian House"),
		adjectives: list("Silent|Hidden|Last|Quiet|Burning|Distant|Forgotten|Golden|Winter|Paper|Glass|Salt"),
		body: list("Critics have called it impossible to put down.|" +
			"It is a story about the cost of ambition and the courage to start again.|" +
			"Readers will finish it in a weekend and think about it for months.|" +
			"Short chapters and a vivid cast keep the pages turning.|" +
			"This edition includes a new afterword by the author.|" +
			"It was a book-club favorite the year it came out."),
	},
	{spec: group("Toys & Games",
		leaf("Building Sets", 14, 199, "Building Set|Construction Kit|Brick Set|Marble Run", "Creative|Castle|Space Station|City|Robot", "", "age|pieceCount|toyMaterial"),
		group("Games & Puzzles",
			leaf("Board Games", 19, 89, "Board Game|Strategy Game|Family Game|Party Game", "Cooperative|Deluxe Edition|Travel-Size|Legacy", "", "age|players|playTime"),
			leaf("Jigsaw Puzzles", 12, 49, "Jigsaw Puzzle|Puzzle", "Landscape|Botanical|Vintage Map|Cityscape", "pieces", "age|dimensions|board"),
			leaf("Card Games", 7, 29, "Card Game|Party Card Game|Trivia Game", "Family|Quick-Play|Travel|Expansion", "", "age|players|playTime"),
		),
		leaf("Plush Toys", 9, 59, "Plush Toy|Stuffed Animal|Plush Bear|Plush Dragon", "Cuddly|Giant|Mini|Weighted|Organic Cotton", "smlx|color", "age|plush|washCare"),
		group("Outdoor Play",
			leaf("Kites", 14, 89, "Kite|Stunt Kite|Delta Kite|Box Kite", "Dual-Line|Rainbow|Ripstop|Beginner", "color", "age|span|kite"),
			leaf("Scooters", 39, 249, "Kick Scooter|Scooter|Three-Wheel Scooter", "Foldable|Light-Up|Adjustable|All-Terrain", "color", "age|maxLoad|kilograms"),
		),
	),
		code:       "TOY",
		brands:     list("Pip & Pebble|Brightblock|Wonderwhistle|Tumbletoy|Kitestring|Marble Moon|Gigglewick"),
		adjectives: list("Deluxe|Mini|Giant|Rainbow|Magic|Adventure|Starter|Classic"),
		body: list("Safety-tested to international toy standards.|" +
			"Simple enough to start in minutes, deep enough to play for years.|" +
			"It encourages creativity, problem solving and a little friendly competition.|" +
			"Rounded edges and non-toxic finishes make it safe for small hands.|" +
			"Parents like it as much as kids do.|" +
			"Everything packs back into a sturdy storage box."),
	},
	{spec: group("Beauty & Personal Care",
		group("Skin Care",
			leaf("Moisturizers", 12, 120, "Moisturizer|Face Cream|Night Cream|Gel Moisturizer", "Hydrating|Oil-Free|Fragrance-Free|Barrier-Repair", "ml", "skinType|ingredients|crueltyFree|origin"),
			leaf("Cleansers", 8, 49, "Cleanser|Foaming Cleanser|Cleansing Balm|Micellar Water", "Gentle|Exfoliating|Fragrance-Free|Soothing", "ml", "skinType|ingredients|crueltyFree"),
			leaf("Serums", 14, 149, "Serum|Face Serum|Eye Serum|Retinol Serum", "Brightening|Firming|Hydrating|Overnight", "ml", "skinType|ingredients|crueltyFree|origin"),
		),
		group("Hair Care",
			leaf("Shampoo", 7, 49, "Shampoo|Clarifying Shampoo|Volumizing Shampoo", "Sulfate-Free|Herbal|Moisturizing|Color-Safe", "ml|scent", "hairType|ingredients|crueltyFree"),
			leaf("Hair Dryers", 29, 449, "Hair Dryer|Ionic Hair Dryer|Travel Hair Dryer", "Ionic|Compact|Ceramic|Fast-Drying", "color", "watts|grams|warranty"),
		),
		leaf("Fragrance", 19, 249, "Eau de Parfum|Eau de Toilette|Cologne|Perfume Oil", "Woody|Floral|Citrus|Amber|Fresh", "ml", "notes|origin|crueltyFree"),
	),
		code:       "BEA",
		brands:     list("Lumiere Botanics|Velvet Fern|Aurelia|Pure Tide|Willow & Sage|Glowhaus|Saltmarsh|Dewlane"),
		adjectives: list("Daily|Gentle|Radiant|Nourishing|Pure|Calming|Restoring"),
		body: list("Dermatologist-tested and suitable for daily use.|" +
			"The lightweight texture absorbs quickly without a sticky finish.|" +
			"Formulated without parabens, sulfates or synthetic dyes.|" +
			"A little goes a long way: one bottle lasts for months.|" +
			"Packaged in recyclable glass and aluminum.|" +
			"Results show within two weeks of regular use."),
	},
	{spec: group("Garden & Outdoor",
		group("Gardening Tools",
			leaf("Pruners", 12, 89, "Pruners|Bypass Pruners|Pruning Shears|Loppers", "Ergonomic|Ratcheting|Carbon Steel|Heavy-Duty", "", "blade|handle|warranty|lightGrams"),
			leaf("Garden Hoses", 19, 129, "Garden Hose|Expandable Hose|Hose Reel", "Kink-Free|Lightweight|Heavy-Duty|Expandable", "hose", "hoseMaterial|fittings|warranty"),
		),
		leaf("Planters & Pots", 9, 199, "Planter|Plant Pot|Self-Watering Planter|Hanging Planter", "Terracotta|Ceramic|Glazed|Self-Watering|Recycled", "smlx|color", "planter|drainage|dimensions"),
		group("Patio Furniture",
			leaf("Patio Chairs", 59, 599, "Patio Chair|Adirondack Chair|Lounge Chair|Dining Chair", "Teak|Weatherproof|Folding|Stackable", "color|pack", "outdoor|maxLoad|care"),
			leaf("Hammocks", 29, 249, "Hammock|Hammock with Stand|Camping Hammock", "Quilted|Rope|Parachute Nylon|Double", "color", "maxLoad|hammock|dimensions"),
		),
		group("Grilling",
			leaf("Grills", 149, 1499, "Grill|Gas Grill|Charcoal Grill|Pellet Grill|Kamado Grill", "Portable|Three-Burner|Stainless|Smart", "fuel", "cookingArea|grillMetal|warranty|burners"),
			leaf("Grill Tools", 9, 99, "Grill Tool Set|Grill Brush|Meat Thermometer|Grill Basket", "Stainless|Wireless|Heavy-Duty|Bristle-Free", "pack", "grillMetal|care|warranty"),
		),
	),
		code:       "GAR",
		brands:     list("Greenhollow|Terracotta & Twine|Rootwell|Meadowlark|Sproutly|Fieldstone|Bramble Co"),
		adjectives: list("Heavy-Duty|Classic|Weatherproof|Ergonomic|Rustic|Compact|Cottage"),
		body: list("Made to stay outside through every season.|" +
			"UV-stable finishes resist fading in full sun.|" +
			"The ergonomic design takes the strain out of long afternoons in the garden.|" +
			"Assembly takes about fifteen minutes with the included tools.|" +
			"Rust-resistant hardware keeps it looking new.|" +
			"It is built to be repaired, not replaced."),
	},
}

// Sentences every product may use: an opening naming it and a closing line.
var (
	intros = list("Meet the {brand} {noun}, made for everyday use.|" +
		"{brand} pairs {a:feature} design with thoughtful details.|" +
		"{brand} built {this} {feature} {noun} to last.|" +
		"Designed in-house by {brand} to balance form and function.|" +
		"{This} {adj} {noun} {is} one of the best sellers in the {brand} range.|" +
		"Looking for {a:feature} {noun} you can rely on? Look no further.")
	closers = list("Ships in recyclable packaging.|" +
		"Free returns within 30 days.|" +
		"Pairs well with the rest of the {brand} range.|" +
		"A thoughtful gift for friends and family.|" +
		"Backed by our satisfaction guarantee.|" +
		"Usually ships within one business day.")
	bookIntros = list("In {title}, {author} tells {a:adj} story of {theme}.|" +
		"{author} returns with {title}, {a:genre} about {theme}.|" +
		"{title} is the {genre} readers have been waiting for from {author}.|" +
		"{A:adj} {genre} about {theme}, from award-winning writer {author}.")
	bookClosers = list("Includes a reading group guide.|" +
		"Published by {brand}.|" +
		"A perfect gift for any {genre} reader.|" +
		"Now a bestseller in twelve countries.")
	bookAdjectives = list("gripping|tender|sweeping|funny|haunting|luminous|sharp|unforgettable")
	bookThemes     = list("family secrets|second chances|a city on the edge of change|friendship and loss|" +
		"an unlikely inheritance|the sea and the people who live by it|a summer that changed everything|" +
		"courage in hard times|a long journey home|the search for a missing sister")
	bookTitleWords = list("Harbor|Orchard|Lighthouse|Garden|Signal|Archive|River|Kingdom|Summer|Map|" +
		"Atlas|Tide|Compass|Meadow|Letters|Station|Island|Cartographer|Clockmaker|Orbit")
	firstNames = list("Ada|Ben|Clara|Daniel|Elena|Felix|Grace|Hugo|Iris|Jonah|Keira|Leo|Maya|Nora|" +
		"Omar|Priya|Quinn|Rosa|Samuel|Tara|Uma|Victor|Wen|Yusuf|Zoe")
	lastNames = list("Abernathy|Blackwood|Castellano|Delacroix|Everly|Fairbanks|Greenhalgh|Holloway|" +
		"Ishikawa|Jaramillo|Kowalczyk|Lindqvist|Marchetti|Nakamura|Okonkwo|Pemberton|Quintero|Rasmussen|" +
		"Sorensen|Thackeray|Underwood|Valdez|Whitlock|Yilmaz|Zimmerman")
	models = list("Pro|Max|Lite|Plus|Air|Mini|Mk II|Mk III|2.0|3|Go|One|Edge|Flex")
	views  = list("front view|side view|detail|in use|from above|packaging")
)

// Words stores are named from, and what their descriptions say.
var (
	storePrefixes = list("Northwind|Copperleaf|Bright Harbor|Blue Fern|Old Quarry|Silver Birch|Redwood|" +
		"Lantern|Maple & Main|Harborview|Foxglove|Tidewater|Ironwood|Juniper|Cobalt|Sunday|Wildflower|" +
		"Granite|Hollow Oak|Kingfisher|Pinecone|Starling|Driftwood|Thistle|Orchard Lane")
	storeSuffixes = list("Goods|Trading Co|Supply|Outfitters|Market|Emporium|General Store|Collective|Depot|& Co")
	cities        = list("Portland|Asheville|Burlington|Santa Fe|Savannah|Boulder|Madison|Providence|" +
		"Duluth|Tucson|Missoula|Charleston|Ann Arbor|Bend|Halifax")
	storeKinds = list("family-run|independent|employee-owned|small-batch|curated")
	storeLines = list("We pack every order by hand.|Orders over $50 ship free.|" +
		"We answer every message within a day.|A share of every sale goes to local schools.|" +
		"We test everything we sell before we list it.|Gift wrapping is always free.")
)

// lowerWords lower-cases the words of a name for use inside a sentence,
// keeping acronyms and brand-like words ("USB-C", "4K", "MagSafe", the
// "T" of "T-Shirt") as written: a hyphen-separated part is lowered only when
// it is longer than one character and only its first letter is upper case.
func lowerWords(s string) string {
	b := []byte(s)
	start := 0
	for i := 0; i <= len(b); i++ {
		if i < len(b) && b[i] != ' ' && b[i] != '-' {
			continue
		}
		part := b[start:i]
		if len(part) > 1 && unicode.IsUpper(rune(part[0])) {
			rest := true
			for _, c := range part[1:] {
				if unicode.IsUpper(rune(c)) || unicode.IsDigit(rune(c)) {
					rest = false
					break
				}
			}
			if rest {
				part[0] = byte(unicode.ToLower(rune(part[0])))
			}
		}
		start = i + 1
	}
	return string(b)
}
