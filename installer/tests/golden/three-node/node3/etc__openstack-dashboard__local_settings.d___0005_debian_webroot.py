# Written by stackbox: emptied. The snippets here run after local_settings.py, where stackbox
# sets WEBROOT (the path haproxy serves the dashboard under);
# Debian's default here would undo it.
