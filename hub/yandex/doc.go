// Package yandex is the Yandex Smart Home provider API of hubd: the
// /v1.0/... HTTP endpoints the platform calls (liveness, discovery, query,
// action, unlink), the conversion between hub state and Yandex JSON, and the
// Notifier that pushes state changes to the platform's callback API.
//
// Queries are answered from the hub's memory and never touch a device. Each
// device's encoded state is cached by its snapshot sequence number, so a
// query is a map lookup and a byte copy per device; the request body is
// decoded by a small hand-written scanner instead of reflection.
//
// Brightness is published as a range of 1..100 percent: 0 would mean "off",
// which the on_off capability already says, and voice requests such as "set
// the minimum brightness" should leave the lamp lit. A lamp reporting 0 is
// shown as 1.
package yandex
