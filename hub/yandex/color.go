package yandex

import (
	"math"

	"hubd/hub"
)

// Color mapping from the platform's palettes onto what a lamp can do.

const maxRGB = 0xFFFFFF

// rgbToHSV converts a 0xRRGGBB integer to hue 0..360, saturation and value
// 0..100, rounded.
func rgbToHSV(rgb int) hub.HSV {
	return hub.HSVFromRGB(float64(rgb>>16&0xFF)/255, float64(rgb>>8&0xFF)/255, float64(rgb&0xFF)/255)
}

// kelvinToRGB approximates the color of a black body at k kelvin, for
// lamps that have a color model but no white channel.
func kelvinToRGB(k int) int {
	t := float64(k) / 100
	var r, g, b float64
	if t <= 66 {
		r = 255
		g = 99.4708025861*math.Log(t) - 161.1195681661
		if t <= 19 {
			b = 0
		} else {
			b = 138.5177312231*math.Log(t-10) - 305.0447927307
		}
	} else {
		r = 329.698727446 * math.Pow(t-60, -0.1332047592)
		g = 288.1221695283 * math.Pow(t-60, -0.0755148492)
		b = 255
	}
	c := func(x float64) int { return int(math.Round(math.Min(255, math.Max(0, x)))) }
	return c(r)<<16 | c(g)<<8 | c(b)
}

// Kelvin values the API accepts before clamping to a lamp's range. The
// platform's palette spans 1500..9000 K; hub.State.Validate allows
// 1000..20000 K.
const (
	minKelvin = 1000
	maxKelvin = 20000
)
