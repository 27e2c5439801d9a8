// Relance service worker: precaches static assets (fingerprinted URLs, the cache
// named after their hashes), serves an offline page for
// navigations when the network is down. Never caches pages or htmx answers:
// they belong to one logged-in person.
const CACHE = "relance-static-{{ version }}";
const OFFLINE_URL = "{{ url_for('pwa.offline') }}";
const PRECACHE = {{ precache|tojson }};

// Precached without cookies: the offline page must be nobody's (no navigation, no
// email, no session token), even when the worker installs while someone is logged in.
self.addEventListener("install", (event) => {
  const requests = PRECACHE.map((url) => new Request(url, { credentials: "omit" }));
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(requests)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("relance-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE_URL)));
    return;
  }
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(
      // Fingerprinted URLs (?v=<hash>): an exact match is the right version or nothing.
      caches.match(request).then((hit) => hit || fetch(request).then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(request, copy));
        }
        return response;
      }))
    );
  }
});
