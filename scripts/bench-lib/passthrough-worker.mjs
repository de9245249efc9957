// The runtime's floor for the benchmark: a bare JS worker that forwards the request to the
// upstream and returns the upstream's response as it is. It runs in the same workerd as the
// gateway, so (gateway − this) is what the gateway itself costs.
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.UPSTREAM_URL + url.pathname + url.search, request);
  },
};
