package hub

// QueueItem is one value of a durable queue (the store keeps them; the
// fleet uplink forwards them) and its sequence number, which increases with
// every append and survives restarts.
type QueueItem struct {
	Seq   uint64
	Value []byte
}

// QueueStats is what a durable queue holds and how many values its bounds
// dropped, ever.
type QueueStats struct {
	Items   int    `json:"items"`
	Bytes   int64  `json:"bytes"`
	Dropped uint64 `json:"dropped"`
}
