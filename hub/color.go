package hub

import "math"

// HSVFromRGB converts linear red, green and blue components in 0..1 to a
// color with hue 0..359 and saturation and value 0..100, rounded. Drivers
// and voice adapters that receive RGB or CIE xy colors share it.
func HSVFromRGB(r, g, b float64) HSV {
	r, g, b = clamp01(r), clamp01(g), clamp01(b)
	hi := max(r, g, b)
	lo := min(r, g, b)
	d := hi - lo
	var h float64
	switch {
	case d == 0:
		h = 0
	case hi == r:
		h = 60 * math.Mod((g-b)/d, 6)
	case hi == g:
		h = 60 * ((b-r)/d + 2)
	default:
		h = 60 * ((r-g)/d + 4)
	}
	if h < 0 {
		h += 360
	}
	var s float64
	if hi > 0 {
		s = d / hi
	}
	return HSV{H: int(math.Round(h)) % 360, S: int(math.Round(s * 100)), V: int(math.Round(hi * 100))}
}

func clamp01(x float64) float64 {
	if math.IsNaN(x) || x < 0 {
		return 0
	}
	if x > 1 {
		return 1
	}
	return x
}

// RGBFromHSV converts a color to red, green and blue components in 0..1,
// the inverse of HSVFromRGB.
func RGBFromHSV(c HSV) (r, g, b float64) {
	h := math.Mod(float64(c.H), 360) / 60
	s, v := clamp01(float64(c.S)/100), clamp01(float64(c.V)/100)
	chroma := v * s
	x := chroma * (1 - math.Abs(math.Mod(h, 2)-1))
	switch int(h) {
	case 0:
		r, g, b = chroma, x, 0
	case 1:
		r, g, b = x, chroma, 0
	case 2:
		r, g, b = 0, chroma, x
	case 3:
		r, g, b = 0, x, chroma
	case 4:
		r, g, b = x, 0, chroma
	default:
		r, g, b = chroma, 0, x
	}
	m := v - chroma
	return r + m, g + m, b + m
}
