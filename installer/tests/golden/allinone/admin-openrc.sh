# Admin credentials of the stackbox cloud lab. Keep this file private (chmod 600):
# it holds the admin password. Use it with: . ./admin-openrc.sh && openstack server list
# The endpoints' CA certificate is /etc/stackbox/ca.pem on the appliance; copy it to $HOME/stackbox-ca.pem.
export OS_AUTH_URL='https://10.20.0.10:5000/v3'
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=admin
export OS_PASSWORD='it'\''s $HOME \ `x`'
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME='RegionOne'
export OS_CACERT="$HOME/stackbox-ca.pem"
