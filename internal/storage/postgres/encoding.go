package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// hashSize is the size of a Merkle tree hash (SHA-256).
const hashSize = 32

// batchFormatV1 tags the seq row encoding below, so that a later format can
// be told apart.
const batchFormatV1 = 1

// sequenced is one entry of a sequenced batch: what integration needs.
type sequenced struct {
	bundleData []byte // the entry as it goes into its entry bundle
	leafHash   []byte // its Merkle leaf hash, hashSize bytes
}

// encodeBatch serialises a batch for the seq table's v column:
//
//	byte    format (batchFormatV1)
//	uvarint number of entries
//	per entry: 32-byte leaf hash, uvarint length, bundle data
func encodeBatch(entries []sequenced) ([]byte, error) {
	size := 1 + binary.MaxVarintLen64
	for _, e := range entries {
		size += hashSize + binary.MaxVarintLen64 + len(e.bundleData)
	}
	out := make([]byte, 0, size)
	out = append(out, batchFormatV1)
	out = binary.AppendUvarint(out, uint64(len(entries)))
	for i, e := range entries {
		if len(e.leafHash) != hashSize {
			return nil, fmt.Errorf("entry %d: leaf hash has %d bytes, want %d", i, len(e.leafHash), hashSize)
		}
		out = append(out, e.leafHash...)
		out = binary.AppendUvarint(out, uint64(len(e.bundleData)))
		out = append(out, e.bundleData...)
	}
	return out, nil
}

// decodeBatch parses what encodeBatch produced. The returned slices alias v.
func decodeBatch(v []byte) ([]sequenced, error) {
	if len(v) == 0 || v[0] != batchFormatV1 {
		return nil, errors.New("unknown batch format")
	}
	v = v[1:]
	n, k := binary.Uvarint(v)
	if k <= 0 || n > uint64(len(v)) {
		return nil, errors.New("bad entry count")
	}
	v = v[k:]
	entries := make([]sequenced, 0, n)
	for i := uint64(0); i < n; i++ {
		if len(v) < hashSize {
			return nil, fmt.Errorf("entry %d: truncated leaf hash", i)
		}
		leaf := v[:hashSize:hashSize]
		v = v[hashSize:]
		l, k := binary.Uvarint(v)
		if k <= 0 || l > uint64(len(v)-k) {
			return nil, fmt.Errorf("entry %d: bad bundle data length", i)
		}
		v = v[k:]
		entries = append(entries, sequenced{bundleData: v[:l:l], leafHash: leaf})
		v = v[l:]
	}
	if len(v) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(v))
	}
	return entries, nil
}

// bundle is an entry bundle as stored: its entries' bytes concatenated, and
// where each entry ends. Keeping the ends makes truncation to a partial bundle
// exact whatever the entry format (tlog-tiles or static-ct).
type bundle struct {
	ends []uint32 // ends[i] is the offset in data just past entry i
	data []byte
}

func (b *bundle) n() int { return len(b.ends) }

// add appends one entry.
func (b *bundle) add(entry []byte) {
	b.data = append(b.data, entry...)
	b.ends = append(b.ends, uint32(len(b.data)))
}

// prefix returns the bytes of the first p entries (1 <= p <= n).
func (b *bundle) prefix(p int) []byte {
	end := b.ends[p-1]
	return b.data[:end:end]
}

// encodeEnds serialises ends as big-endian uint32s for the bundles.ends column.
func (b *bundle) encodeEnds() []byte {
	out := make([]byte, 0, 4*len(b.ends))
	for _, e := range b.ends {
		out = binary.BigEndian.AppendUint32(out, e)
	}
	return out
}

// decodeBundle rebuilds a bundle from its columns, checking they agree.
func decodeBundle(n int, ends, data []byte) (*bundle, error) {
	if n <= 0 || len(ends) != 4*n {
		return nil, fmt.Errorf("%w: bundle of %d entries has %d bytes of offsets", ErrIntegrity, n, len(ends))
	}
	b := &bundle{ends: make([]uint32, n), data: data}
	prev := uint32(0)
	for i := range n {
		e := binary.BigEndian.Uint32(ends[4*i:])
		if e < prev || int(e) > len(data) {
			return nil, fmt.Errorf("%w: bundle entry %d ends at %d, outside %d..%d", ErrIntegrity, i, e, prev, len(data))
		}
		b.ends[i], prev = e, e
	}
	if int(prev) != len(data) {
		return nil, fmt.Errorf("%w: bundle entries end at %d but data has %d bytes", ErrIntegrity, prev, len(data))
	}
	return b, nil
}
