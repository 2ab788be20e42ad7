package wire

// crcTable is CRC-16/MODBUS (polynomial 0x8005 reflected = 0xA001, init
// 0xFFFF, input and output reflected, no final xor) one byte at a time.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC16 returns the CRC-16/MODBUS of b. CRC16([]byte("123456789")) is 0x4B37.
func CRC16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, x := range b {
		crc = crc>>8 ^ crcTable[byte(crc)^x]
	}
	return crc
}
