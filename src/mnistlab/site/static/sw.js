// The service worker: on install it caches every file of the folder (the list below is written
// by `mnistlab site`), then answers from that cache first, so the page opens and reads with no
// network. A rebuilt folder has another VERSION, whose cache replaces the old one.
"use strict";

const VERSION = /*VERSION*/;
const FILES = /*FILES*/;
const CACHE = `mnistlab-site-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((key) => key.startsWith("mnistlab-site-") && key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  if (event.request.method !== "GET") return;
  event.respondWith(
    caches.open(CACHE).then((cache) =>
      cache.match(event.request, { ignoreSearch: true }).then((hit) => hit || fetch(event.request)),
    ),
  );
});
