package hub_test

import (
	"math"
	"testing"

	"hubd/hub"
)

func TestHSVFromRGB(t *testing.T) {
	cases := []struct {
		r, g, b float64
		want    hub.HSV
	}{
		{1, 0, 0, hub.HSV{H: 0, S: 100, V: 100}},
		{0, 1, 0, hub.HSV{H: 120, S: 100, V: 100}},
		{0, 0, 1, hub.HSV{H: 240, S: 100, V: 100}},
		{1, 1, 1, hub.HSV{H: 0, S: 0, V: 100}},
		{0, 0, 0, hub.HSV{}},
		{0.5, 0.25, 0.25, hub.HSV{H: 0, S: 50, V: 50}},
		{1, 0, 0.001, hub.HSV{H: 0, S: 100, V: 100}}, // 359.94 rounds into 0, not 360
		{2, -1, math.NaN(), hub.HSV{H: 0, S: 100, V: 100}},
	}
	for _, c := range cases {
		if got := hub.HSVFromRGB(c.r, c.g, c.b); got != c.want {
			t.Errorf("HSVFromRGB(%v,%v,%v) = %+v, want %+v", c.r, c.g, c.b, got, c.want)
		}
	}
}

func TestRGBFromHSV_InvertsHSVFromRGB(t *testing.T) {
	for _, c := range []hub.HSV{{H: 0, S: 100, V: 100}, {H: 120, S: 100, V: 100}, {H: 240, S: 100, V: 50}, {H: 30, S: 50, V: 80}, {H: 300, S: 20, V: 10}, {H: 359, S: 100, V: 100}} {
		r, g, b := hub.RGBFromHSV(c)
		if back := hub.HSVFromRGB(r, g, b); back != c {
			t.Errorf("%+v -> %.3f,%.3f,%.3f -> %+v", c, r, g, b, back)
		}
	}
	if r, g, b := hub.RGBFromHSV(hub.HSV{H: 360, S: 100, V: 100}); r != 1 || g != 0 || b != 0 {
		t.Errorf("hue 360 is red: %v %v %v", r, g, b)
	}
}
