# Written by stackbox: emptied. The snippets here run after local_settings.py, where stackbox
# sets CACHES (the management nodes' memcached, which holds the sessions);
# Debian's default here would undo it.
