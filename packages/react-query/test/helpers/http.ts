// Plain HTTP (Node's fetch) to set up and check server state from a test,
// beside whatever the code under test does.

export async function putJson(url: string, value: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(value),
  });
  await res.arrayBuffer();
  return res;
}

export async function getJson(
  url: string,
): Promise<{ status: number; etag: string | null; value: unknown }> {
  const res = await fetch(url);
  const text = await res.text();
  return {
    status: res.status,
    etag: res.headers.get('etag'),
    value: text ? JSON.parse(text) : undefined,
  };
}
