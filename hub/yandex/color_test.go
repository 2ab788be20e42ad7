package yandex

import (
	"testing"

	"hubd/hub"
)

func TestRGBToHSV_Palette(t *testing.T) {
	tests := []struct {
		rgb  int
		want hub.HSV
	}{
		// The platform's palette (shared/specs/REFERENCE.md, "palette
		// values") gives only RGB integers. Their hues by the standard
		// hexcone formula: 0aff47 is 120 + 60*(0x47-0x0a)/(0xff-0x0a) =
		// 134.9, so 135, not pure green's 120; 0a47ff is 240 -
		// 60*(0x47-0x0a)/(0xff-0x0a) = 225.1. Saturation (0xff-0x0a)/0xff
		// is 96 %.
		{16714250, hub.HSV{H: 0, S: 96, V: 100}},    // platform red ff0a0a
		{720711, hub.HSV{H: 135, S: 96, V: 100}},    // platform green 0aff47
		{673791, hub.HSV{H: 225, S: 96, V: 100}},    // platform blue 0a47ff
		{0xFFFFFF, hub.HSV{H: 0, S: 0, V: 100}},     // white
		{0, hub.HSV{H: 0, S: 0, V: 0}},              // black
		{0x00FF00, hub.HSV{H: 120, S: 100, V: 100}}, // pure green
		{0xFF00FF, hub.HSV{H: 300, S: 100, V: 100}}, // magenta
		{0xFF0001, hub.HSV{H: 0, S: 100, V: 100}},   // hue 359.8 rounds to 0, not 360
	}
	for _, tt := range tests {
		got := rgbToHSV(tt.rgb)
		if !got.Valid() {
			t.Errorf("rgbToHSV(%#06x) = %+v is not a valid color", tt.rgb, got)
		}
		if got != tt.want {
			t.Errorf("rgbToHSV(%#06x) = %+v, want %+v", tt.rgb, got, tt.want)
		}
	}
}

func TestKelvinToRGB_WarmIsRedderThanCold(t *testing.T) {
	prevBlue := -1
	for _, k := range []int{1500, 2700, 3400, 4500, 5600, 6500, 7500, 9000} {
		c := kelvinToRGB(k)
		r, b := c>>16&0xFF, c&0xFF
		if b < prevBlue {
			t.Errorf("%d K has less blue (%d) than a warmer white (%d)", k, b, prevBlue)
		}
		if k <= 6500 && r != 255 {
			t.Errorf("%d K: red %d, want 255", k, r)
		}
		if !rgbToHSV(c).Valid() {
			t.Errorf("%d K maps to an invalid color", k)
		}
		prevBlue = b
	}
}

func TestClipName_CutsAtWordsAndRunes(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Lobby", "Lobby"},
		{"  Lobby  ", "Lobby"},
		{"Room 101 ceiling lamp with a very long name", "Room 101 ceiling lamp"},
		{"Потолочный светильник в переговорной", "Потолочный светильник в"},
		{"Averyveryveryveryverylongwordwithoutspaces", "Averyveryveryveryverylong"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
	}
	for _, tt := range tests {
		if got := clipName(tt.in); got != tt.want {
			t.Errorf("clipName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
