"""Minimal GGUF header parser for tests: records where each field lives so tests can corrupt
files precisely. Independent of lfmd's C++ reader on purpose."""
import struct

SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q", 11: "<q", 12: "<d"}


class Header:
    def __init__(self, data: bytes):
        self.data = data
        self.kv = {}          # key -> (value, value_offset)
        self.tensors = []     # dicts: name, name_off, dims_off, ne, type_off, type, offset_off, offset
        p = 0

        def rd(fmt):
            nonlocal p
            v = struct.unpack_from(fmt, data, p)[0]
            p += struct.calcsize(fmt)
            return v

        def rstr():
            nonlocal p
            n = rd("<Q")
            s = data[p:p + n].decode("utf-8", "replace")
            p += n
            return s

        def rval(t):
            if t == 8:
                return rstr()
            if t == 9:
                et, n = rd("<I"), rd("<Q")
                return [rval(et) for _ in range(n)]
            return rd(SCALAR[t])

        assert data[:4] == b"GGUF"
        p = 4
        self.version = rd("<I")
        n_t, n_kv = rd("<Q"), rd("<Q")
        for _ in range(n_kv):
            k = rstr()
            t = rd("<I")
            off = p
            self.kv[k] = (rval(t), off)
        for _ in range(n_t):
            name_off = p
            name = rstr()
            nd = rd("<I")
            dims_off = p
            ne = [rd("<Q") for _ in range(nd)]
            type_off = p
            typ = rd("<I")
            offset_off = p
            offset = rd("<Q")
            self.tensors.append(dict(name=name, name_off=name_off, dims_off=dims_off, ne=ne,
                                     type_off=type_off, type=typ, offset_off=offset_off, offset=offset))
        align = self.kv.get("general.alignment", (32, 0))[0]
        self.data_offset = (p + align - 1) // align * align

    def tensor(self, name):
        return next(t for t in self.tensors if t["name"] == name)
