// A strict multipart/form-data parser over the raw request bytes (RFC 7578), so the fake can prove
// that a gateway forwarded an upload byte for byte: wrong boundaries, missing part headers and
// unterminated bodies are rejected instead of being guessed at.

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/** The boundary from a Content-Type header, or null when it is not multipart/form-data with one. */
function boundaryOf(contentType = '') {
  const [type, ...params] = contentType.split(';').map((part) => part.trim());
  if (type.toLowerCase() !== 'multipart/form-data') return null;
  const param = params.find((part) => part.toLowerCase().startsWith('boundary='));
  const boundary = param?.slice('boundary='.length).replace(/^"(.*)"$/, '$1');
  return boundary ? boundary : null;
}

/**
 * Parses `body` as multipart/form-data.
 * Returns {fields: {name: string}, files: {name: {filename, contentType, data: Buffer}}, parts:
 * [{name, filename?, content_type?, size}]} in body order, or {error: message} when the body does
 * not match its Content-Type. A repeated field or file name keeps the last value in fields/files;
 * `parts` lists every part.
 */
export function parseMultipart(contentType, body) {
  const boundary = boundaryOf(contentType);
  if (!boundary) return { error: 'Content-Type must be multipart/form-data with a boundary' };
  const opening = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  if (!body.subarray(0, opening.length).equals(opening)) return { error: 'body does not start with the boundary' };
  const result = { fields: {}, files: {}, parts: [] };
  let cursor = opening.length;
  for (;;) {
    if (body.subarray(cursor, cursor + 2).toString() === '--') return result;
    if (!body.subarray(cursor, cursor + 2).equals(CRLF)) return { error: 'malformed boundary line' };
    const headersEnd = body.indexOf(HEADER_END, cursor + 2);
    if (headersEnd < 0) return { error: 'part headers are not terminated' };
    const dataEnd = body.indexOf(delimiter, headersEnd + HEADER_END.length);
    if (dataEnd < 0) return { error: 'closing boundary not found' };
    const part = partOf(body.subarray(cursor + 2, headersEnd).toString('utf8'), body.subarray(headersEnd + HEADER_END.length, dataEnd));
    if (part.error) return part;
    addPart(result, part);
    cursor = dataEnd + delimiter.length;
  }
}

function partOf(headerText, data) {
  const headers = Object.fromEntries(
    headerText.split('\r\n').map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
    }),
  );
  const disposition = headers['content-disposition'] ?? '';
  if (!/^form-data\s*(;|$)/i.test(disposition)) return { error: 'part without Content-Disposition: form-data' };
  const name = dispositionParam(disposition, 'name');
  if (name === undefined) return { error: 'part without a name' };
  return { name, filename: dispositionParam(disposition, 'filename'), contentType: headers['content-type'], data };
}

function dispositionParam(disposition, key) {
  const match = new RegExp(`;\\s*${key}="((?:[^"\\\\]|\\\\.)*)"`, 'i').exec(disposition);
  return match ? match[1].replace(/\\(.)/g, '$1') : undefined;
}

function addPart(result, { name, filename, contentType, data }) {
  if (filename === undefined) {
    result.fields[name] = data.toString('utf8');
    result.parts.push({ name, size: data.length });
  } else {
    result.files[name] = { filename, contentType, data };
    result.parts.push({ name, filename, content_type: contentType ?? null, size: data.length });
  }
}
