// The canonical name of an apache-arrow DataType, shared by the scripts that print what a writer's own
// reader reads (read_ipc.mjs, dump_ipc.mjs): int8..uint64, float16/32/64, bool, utf8, large_utf8, utf8_view,
// binary, large_binary, binary_view, fixed_size_binary[W], date32, date64, timestamp[UNIT(,TZ)], list<T>,
// large_list<T>, fixed_size_list[N]<T>, struct<a:T,b:T>, dictionary<INDEX,VALUE>.
import { Type } from 'apache-arrow';

const UNITS = ['s', 'ms', 'us', 'ns'];

export function typeName(t) {
  switch (t.typeId) {
    case Type.Int: return `${t.isSigned ? 'int' : 'uint'}${t.bitWidth}`;
    case Type.Float: return ['float16', 'float32', 'float64'][t.precision];
    case Type.Bool: return 'bool';
    case Type.Utf8: return 'utf8';
    case Type.LargeUtf8: return 'large_utf8';
    case Type.Utf8View: return 'utf8_view';
    case Type.Binary: return 'binary';
    case Type.LargeBinary: return 'large_binary';
    case Type.BinaryView: return 'binary_view';
    case Type.FixedSizeBinary: return `fixed_size_binary[${t.byteWidth}]`;
    case Type.Date: return t.unit === 0 ? 'date32' : 'date64';
    case Type.Timestamp: return `timestamp[${UNITS[t.unit]}${t.timezone ? ',' + t.timezone : ''}]`;
    case Type.List: return `list<${typeName(t.children[0].type)}>`;
    case Type.LargeList: return `large_list<${typeName(t.children[0].type)}>`;
    case Type.FixedSizeList: return `fixed_size_list[${t.listSize}]<${typeName(t.children[0].type)}>`;
    case Type.Struct: return `struct<${t.children.map((f) => `${f.name}:${typeName(f.type)}`).join(',')}>`;
    case Type.Dictionary: return `dictionary<${typeName(t.indices)},${typeName(t.dictionary)}>`;
    default: return `unknown:${String(t)}`;
  }
}
