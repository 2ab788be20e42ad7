package modbussim

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"hubd/drivers/modbus/rtu"
)

// exchange sends req to unit over a pipe served by b and returns the
// response data, or its exception.
func exchange(t *testing.T, conn net.Conn, unit byte, req rtu.Request, noise ...byte) ([]byte, error) {
	t.Helper()
	pdu, err := rtu.AppendRequest(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	frame, _ := rtu.AppendFrame(append([]byte(nil), noise...), unit, pdu)
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 3)
	if _, err := io.ReadFull(conn, head[:2]); err != nil {
		t.Fatal(err)
	}
	n := 2
	if rtu.ResponseLen(req, head[:2]) == 0 {
		io.ReadFull(conn, head[2:])
		n = 3
	}
	resp := make([]byte, rtu.ResponseLen(req, head))
	copy(resp, head[:n])
	if _, err := io.ReadFull(conn, resp[n:]); err != nil {
		t.Fatal(err)
	}
	u, p, err := rtu.ParseFrame(resp)
	if err != nil || u != unit {
		t.Fatalf("reply % x: unit %d, %v", resp, u, err)
	}
	return rtu.ParseResponse(req, p)
}

func serve(t *testing.T, slaves ...*Slave) net.Conn {
	t.Helper()
	b, err := NewBus(slaves...)
	if err != nil {
		t.Fatal(err)
	}
	a, z := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); b.Serve(context.Background(), z) }()
	t.Cleanup(func() { a.Close(); z.Close(); <-done })
	return a
}

func TestBus_RelayDimmerAndMeter(t *testing.T) {
	slaves := Demo()
	conn := serve(t, slaves...)
	if _, err := exchange(t, conn, 1, rtu.Request{Func: rtu.WriteCoil, Addr: 0, Value: rtu.CoilOn}); err != nil {
		t.Fatal(err)
	}
	if !slaves[0].Coil(0) {
		t.Fatal("coil 0 off after a write")
	}
	data, err := exchange(t, conn, 1, rtu.Request{Func: rtu.ReadCoils, Addr: 0, Value: 4})
	if err != nil || len(data) != 1 || data[0] != 1 {
		t.Fatalf("coils % x, %v", data, err)
	}
	if _, err := exchange(t, conn, 2, rtu.Request{Func: rtu.WriteRegister, Addr: 0, Value: 55}); err != nil || slaves[1].Holding(0) != 55 {
		t.Fatalf("dimmer at %d, %v", slaves[1].Holding(0), err)
	}
	// The meter follows relay channel 1: 120 W.
	data, err = exchange(t, conn, 3, rtu.Request{Func: rtu.ReadInput, Addr: SDM120Power, Value: 2})
	if err != nil || len(data) != 4 || data[0] != 0x42 || data[1] != 0xF0 {
		t.Fatalf("power % x, %v; want 120.0 (42f00000)", data, err)
	}
}

func TestBus_AnswersExceptionsAndResyncsAfterNoise(t *testing.T) {
	conn := serve(t, NewRelay(1, 4), NewDimmer(2, 1))
	var ex *rtu.ExceptionError
	if _, err := exchange(t, conn, 1, rtu.Request{Func: rtu.ReadCoils, Addr: 2, Value: 4}); !errors.As(err, &ex) || ex.Code != rtu.ExIllegalAddress {
		t.Fatalf("coils 2..5 of 4: %v", err)
	}
	if _, err := exchange(t, conn, 2, rtu.Request{Func: rtu.WriteRegister, Addr: 0, Value: 101}); !errors.As(err, &ex) || ex.Code != rtu.ExIllegalValue {
		t.Fatalf("dimmer at 101: %v", err)
	}
	if _, err := exchange(t, conn, 2, rtu.Request{Func: rtu.ReadInput, Addr: 0, Value: 1}); !errors.As(err, &ex) || ex.Code != rtu.ExIllegalAddress {
		t.Fatalf("input register of a dimmer: %v", err)
	}
	// Line noise before a request: the slave skips it and answers.
	if _, err := exchange(t, conn, 1, rtu.Request{Func: rtu.ReadCoils, Addr: 0, Value: 1}, 0x00, 0xFF, 0x13, 0x01); err != nil {
		t.Fatalf("after noise: %v", err)
	}
}

func TestNewBus_RefusesBadUnits(t *testing.T) {
	if _, err := NewBus(NewRelay(0, 1)); err == nil {
		t.Fatal("unit 0 accepted")
	}
	if _, err := NewBus(NewRelay(5, 1), NewDimmer(5, 1)); err == nil {
		t.Fatal("unit 5 twice accepted")
	}
}
