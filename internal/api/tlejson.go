package api

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"

	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
)

// marshalLogEntry encodes a TransparencyLogEntry as responseJSON does, for
// the two routes that answer one per request (adds above all): protobuf
// JSON with zero values written out. The message has one fixed shape, so
// it is written directly; a message outside it (an inclusion promise, a
// string that is not UTF-8) goes through protojson, the reference the
// tests compare the direct form with.
func marshalLogEntry(m *rekorpb.TransparencyLogEntry) ([]byte, error) {
	if out, ok := appendLogEntry(nil, m); ok {
		return out, nil
	}
	return responseJSON.Marshal(m)
}

// appendLogEntry appends m's protobuf JSON (members in field order, int64
// as strings, bytes in standard base64, absent messages as null) or
// reports false when m is outside the shape it writes.
func appendLogEntry(dst []byte, m *rekorpb.TransparencyLogEntry) ([]byte, bool) {
	p := m.GetInclusionProof()
	cp := p.GetCheckpoint()
	kv := m.GetKindVersion()
	if m.GetInclusionPromise() != nil || !utf8.ValidString(cp.GetEnvelope()) ||
		!utf8.ValidString(kv.GetKind()) || !utf8.ValidString(kv.GetVersion()) {
		return dst, false
	}
	n := 300 + len(cp.GetEnvelope()) + base64.StdEncoding.EncodedLen(len(m.GetCanonicalizedBody())) + 48*len(p.GetHashes())
	if cap(dst)-len(dst) < n {
		dst = append(make([]byte, 0, len(dst)+n), dst...)
	}
	dst = appendInt64(append(dst, `{"logIndex":`...), m.GetLogIndex())
	dst = append(dst, `,"logId":`...)
	if id := m.GetLogId(); id != nil {
		dst = append(appendBase64(append(dst, `{"keyId":`...), id.GetKeyId()), '}')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"kindVersion":`...)
	if kv != nil {
		dst = appendJSONString(append(dst, `{"kind":`...), kv.GetKind())
		dst = append(appendJSONString(append(dst, `,"version":`...), kv.GetVersion()), '}')
	} else {
		dst = append(dst, "null"...)
	}
	dst = appendInt64(append(dst, `,"integratedTime":`...), m.GetIntegratedTime())
	dst = append(dst, `,"inclusionPromise":null,"inclusionProof":`...)
	if p != nil {
		dst = appendInt64(append(dst, `{"logIndex":`...), p.GetLogIndex())
		dst = appendBase64(append(dst, `,"rootHash":`...), p.GetRootHash())
		dst = appendInt64(append(dst, `,"treeSize":`...), p.GetTreeSize())
		dst = append(dst, `,"hashes":[`...)
		for i, h := range p.GetHashes() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendBase64(dst, h)
		}
		dst = append(dst, `],"checkpoint":`...)
		if cp != nil {
			dst = append(appendJSONString(append(dst, `{"envelope":`...), cp.GetEnvelope()), '}')
		} else {
			dst = append(dst, "null"...)
		}
		dst = append(dst, '}')
	} else {
		dst = append(dst, "null"...)
	}
	dst = appendBase64(append(dst, `,"canonicalizedBody":`...), m.GetCanonicalizedBody())
	return append(dst, '}'), true
}

func appendInt64(dst []byte, v int64) []byte {
	return append(strconv.AppendInt(append(dst, '"'), v, 10), '"')
}

func appendBase64(dst, b []byte) []byte {
	return append(base64.StdEncoding.AppendEncode(append(dst, '"'), b), '"')
}

// appendJSONString appends s, valid UTF-8, as a JSON string: quote,
// backslash and control characters escaped, everything else as it is.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	return append(append(dst, s[start:]...), '"')
}
