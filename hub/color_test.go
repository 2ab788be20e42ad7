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
