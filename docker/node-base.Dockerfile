# A minimal Node.js base made on the host: the node binary plus the shared libraries
# that `ldd` lists (scripts/provision.sh assembles rootfs/). Used where no image
# registry can be reached; users build Drover on the official node image instead.
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin
ENTRYPOINT ["/usr/local/bin/node"]
