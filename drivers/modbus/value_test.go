package modbus

import (
	"encoding/hex"
	"testing"
)

func TestDecode_TypesOrdersAndScale(t *testing.T) {
	for _, tc := range []struct {
		name string
		reg  Register
		data string // reply data from address 10
		want float64
	}{
		{"float32 high word first (Eastron)", Register{Table: Input, Addr: 10, Type: Float32}, "43668000", 230.5},
		{"float32 low word first", Register{Table: Input, Addr: 10, Type: Float32, WordSwap: true}, "80004366", 230.5},
		{"float32 little-endian words", Register{Table: Input, Addr: 10, Type: Float32, ByteSwap: true}, "66430080", 230.5},
		{"second register of a read", Register{Table: Input, Addr: 11, Type: Uint16}, "00010002", 2},
		{"int16 negative, scaled", Register{Table: Holding, Addr: 10, Type: Int16, Scale: 0.1}, "ff9c", -10},
		{"uint32", Register{Table: Holding, Addr: 10, Type: Uint32}, "00010000", 65536},
		{"int32 low word first", Register{Table: Holding, Addr: 10, Type: Int32, WordSwap: true}, "fffeffff", -2},
		{"holding register as a switch", Register{Table: Holding, Addr: 10, Type: Bool}, "0002", 1},
		{"coil 3 of a read from 0", Register{Table: Coil, Addr: 3}, "08", 1},
		{"coil 9 of a read from 0", Register{Table: Coil, Addr: 9}, "fffd", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, _ := hex.DecodeString(tc.data)
			start := uint16(10)
			if tc.reg.Table == Coil {
				start = 0
			}
			got, err := decode(tc.reg.normal(), start, data)
			if err != nil || got != tc.want {
				t.Fatalf("decode = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestEncode16_RoundTripsAndRefusesWhatDoesNotFit(t *testing.T) {
	r := Register{Table: Holding, Type: Uint16, Scale: 100.0 / 255}.normal()
	v, err := encode16(r, 40)
	if err != nil || v != 102 {
		t.Fatalf("40 %% on a 0..255 register: %d, %v", v, err)
	}
	if _, err := encode16(Register{Table: Holding, Type: Int16, Scale: 1}.normal(), 40000); err == nil {
		t.Fatal("40000 fit an int16")
	}
	sw := Register{Table: Holding, Type: Uint16, Scale: 1, ByteSwap: true}.normal()
	if v, _ := encode16(sw, 1); v != 0x0100 {
		t.Fatalf("byte-swapped 1 = %04x", v)
	}
}

// FuzzDecode: any reply data and any register of any type never panics
// and never gives NaN or infinity.
func FuzzDecode(f *testing.F) {
	f.Add(byte(Input), uint16(10), byte(Float32), true, false, uint16(8), []byte{0x43, 0x66, 0x80, 0})
	f.Add(byte(Coil), uint16(3), byte(Bool), false, false, uint16(0), []byte{0x08})
	f.Add(byte(Input), uint16(0), byte(Float32), false, false, uint16(0), []byte{0x7f, 0x80, 0, 0})
	f.Fuzz(func(t *testing.T, table byte, addr uint16, typ byte, ws, bs bool, start uint16, data []byte) {
		r := Register{Table: Table(table%4 + 1), Addr: addr, Type: Type(typ%6 + 1), WordSwap: ws, ByteSwap: bs}.normal()
		v, err := decode(r, start, data)
		if err == nil && (v != v || v > 1e300 || v < -1e300) {
			t.Fatalf("decode gave %v", v)
		}
	})
}
