# Written by stackbox: the dashboard (Horizon) of cluster prod on node3, served by uWSGI on
# 10.20.0.13:18080. haproxy ends TLS and serves it at https://cloud.example.net/dashboard/ from every
# management node. This file holds the secret key: mode 0640, root:horizon. Debian's snippets in
# local_settings.d run after it: stackbox empties the two that would undo it.

DEBUG = False

# The path haproxy serves the dashboard under; uWSGI mounts the application there.
WEBROOT = '/dashboard/'

# The names and addresses browsers reach the dashboard at.
ALLOWED_HOSTS = ['cloud.example.net', '10.20.0.10', '10.20.0.11', 'node1', '10.20.0.12', 'node2', '10.20.0.13', 'node3']

# The same on every management node (a cluster secret): what one node signed, the others accept.
SECRET_KEY = '@@secret:horizon-key@@'

# haproxy ends TLS and says so in X-Forwarded-Proto (it sets the header; its backends take connections
# from the cluster's members only): Django builds https URLs, and the cookies travel over HTTPS only.
SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
# The client's address as haproxy saw it (option forwardfor), for the sign-in log lines.
SECURE_PROXY_ADDR_HEADER = 'HTTP_X_FORWARDED_FOR'

# Sessions live in the management nodes' memcached, listed in the same order on every node, so that
# whichever node haproxy sends the next request to finds the session.
SESSION_ENGINE = 'django.contrib.sessions.backends.cache'
CACHES = {
    'default': {
        'BACKEND': 'django.core.cache.backends.memcached.MemcachedCache',
        'LOCATION': ['10.20.0.11:11211', '10.20.0.12:11211', '10.20.0.13:11211'],
    },
}

# keystone's identity endpoint, as the catalog registers it (through haproxy, TLS 1.3), and the other
# services' from the catalog's internal interface; certificates verified with the cluster CA.
OPENSTACK_HOST = 'cloud.example.net'
OPENSTACK_KEYSTONE_URL = 'https://cloud.example.net:5000/v3'
OPENSTACK_ENDPOINT_TYPE = 'internalURL'
OPENSTACK_SSL_CACERT = '/etc/stackbox/ca.pem'
OPENSTACK_SSL_NO_VERIFY = False
OPENSTACK_KEYSTONE_DEFAULT_DOMAIN = 'Default'
OPENSTACK_KEYSTONE_MULTIDOMAIN_SUPPORT = False

# neutron with the linuxbridge agents: routers, no distributed or HA routers.
OPENSTACK_NEUTRON_NETWORK = {
    'enable_router': True,
    'enable_quotas': True,
    'enable_distributed_router': False,
    'enable_ha_router': False,
    'enable_fip_topology_check': True,
}

# No block storage service: servers boot from their image.
LAUNCH_INSTANCE_DEFAULTS = {
    'create_volume': False,
}

TIME_ZONE = 'UTC'

# Warnings and errors (with their tracebacks) to uWSGI's log, /var/log/horizon/horizon.log: with
# DEBUG = False, Django's defaults would send a failed page's traceback to no log at all.
LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'formatters': {
        'console': {'format': '%(asctime)s %(process)d %(levelname)s %(name)s %(message)s'},
    },
    'handlers': {
        'console': {'level': 'INFO', 'class': 'logging.StreamHandler', 'formatter': 'console'},
    },
    'root': {'handlers': ['console'], 'level': 'WARNING'},
    'loggers': {
        'django': {'handlers': ['console'], 'level': 'WARNING', 'propagate': False},
        'horizon': {'handlers': ['console'], 'level': 'INFO', 'propagate': False},
        'openstack_dashboard': {'handlers': ['console'], 'level': 'INFO', 'propagate': False},
        'openstack_auth': {'handlers': ['console'], 'level': 'INFO', 'propagate': False},
    },
}
