#!/usr/bin/python3
"""A Modbus RTU slave for hubd's tests, built on pymodbus.

pymodbus frames and decodes the requests, executes them against its own
datastore and encodes the responses, so the driver is checked against an
implementation that is not hubd's. Usage: slave.py PORT (one end of a socat
PTY pair). Units: 1 a 4-channel relay (coils 0..3), 2 a dimmer (holding
register 0, 0..100), 3 an Eastron SDM120 (float32 input registers).

Commands on stdin, one a line, each answered "ok <line>" on stdout once in
effect: "mute" (answer nothing), "answer" (answer again), "busy N" (the
next N requests get exception 6, slave device busy), "badcrc N" (the next
N responses go out with a corrupt CRC), "set UNIT TABLE ADDR VALUE" (TABLE
co, hr; changes a value as a person at the device would), "float UNIT ADDR
VALUE" (an input register pair), "get UNIT TABLE ADDR" (answers
"value V").
"""
import os
import select
import struct
import sys
import termios
import tty

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.factory import ServerDecoder
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.pdu import ExceptionResponse, ModbusExceptions


def floats(pairs):
    regs = [0] * 0x160
    for addr, v in pairs.items():
        hi, lo = struct.unpack(">HH", struct.pack(">f", v))
        regs[addr], regs[addr + 1] = hi, lo
    return regs


def block(values):
    return ModbusSequentialDataBlock(0, values)


def slaves():
    # A table the device does not have: one register far away, so reads of
    # the low addresses answer "illegal data address".
    empty = lambda: ModbusSequentialDataBlock(60000, [0])
    relay = ModbusSlaveContext(co=block([0] * 4), di=empty(), hr=empty(), ir=empty(), zero_mode=True)
    dimmer = ModbusSlaveContext(co=empty(), di=empty(), hr=block([0]), ir=empty(), zero_mode=True)
    meter = ModbusSlaveContext(co=empty(), di=empty(), hr=empty(),
                               ir=block(floats({0x00: 230.5, 0x06: 1.25, 0x0C: 288.0, 0x156: 12.75})),
                               zero_mode=True)
    return ModbusServerContext(slaves={1: relay, 2: dimmer, 3: meter}, single=False)


class Slave:
    def __init__(self, port):
        self.fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.ctx = slaves()
        self.framer = ModbusRtuFramer(ServerDecoder())
        self.mute = False
        self.busy = 0
        self.badcrc = 0

    def answer(self, request):
        if self.mute:
            return
        if self.busy > 0:
            self.busy -= 1
            response = ExceptionResponse(request.function_code, ModbusExceptions.SlaveBusy)
        else:
            response = request.execute(self.ctx[request.unit_id])
        response.unit_id = request.unit_id
        packet = bytearray(self.framer.buildPacket(response))
        if self.badcrc > 0:
            self.badcrc -= 1
            packet[-1] ^= 0x5A
        os.write(self.fd, bytes(packet))

    def control(self, line):
        words = line.split()
        if not words:
            return
        cmd, args = words[0], words[1:]
        if cmd == "mute":
            self.mute = True
        elif cmd == "answer":
            self.mute = False
        elif cmd == "busy":
            self.busy = int(args[0])
        elif cmd == "badcrc":
            self.badcrc = int(args[0])
        elif cmd == "set":
            unit, table, addr, value = int(args[0]), args[1], int(args[2]), int(args[3])
            self.ctx[unit].store[{"co": "c", "hr": "h"}[table]].setValues(addr, [value])
        elif cmd == "float":
            unit, addr, value = int(args[0]), int(args[1]), float(args[2])
            hi, lo = struct.unpack(">HH", struct.pack(">f", value))
            self.ctx[unit].store["i"].setValues(addr, [hi, lo])
        elif cmd == "get":
            unit, table, addr = int(args[0]), args[1], int(args[2])
            v = self.ctx[unit].store[{"co": "c", "hr": "h"}[table]].getValues(addr, 1)[0]
            print("value", int(v), flush=True)
        print("ok", line.strip(), flush=True)

    def run(self):
        print("ready", flush=True)
        while True:
            ready, _, _ = select.select([self.fd, sys.stdin], [], [])
            if sys.stdin in ready:
                line = sys.stdin.readline()
                if not line:
                    return
                self.control(line)
            if self.fd in ready:
                try:
                    data = os.read(self.fd, 256)
                except OSError:
                    return
                if not data:
                    return
                self.framer.processIncomingPacket(data, self.answer, unit=[1, 2, 3], single=False)


if __name__ == "__main__":
    Slave(sys.argv[1]).run()
