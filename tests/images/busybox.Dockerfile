# relgate's base test image: no registry is reachable here, so nothing can be pulled.
# FROM scratch + Debian's statically linked /bin/busybox (package busybox-static) + one symlink per
# applet (sh, httpd, wget, nc, sleep, ...), assembled into rootfs/ by tests/images/build.sh.
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ARG CONTENT_HASH=unknown
LABEL org.relgate.test-image.content-hash=$CONTENT_HASH \
      org.opencontainers.image.title="relgate test base (busybox, FROM scratch)"
CMD ["sh"]
