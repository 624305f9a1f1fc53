#!/usr/bin/env bash
# Create (or update) the course's Unix accounts: their homes are private (mode 0700), so no
# student reads another's work, and instructors join the group that may open the formgrader.
#
#   sudo deploy/jupyterhub/add_users.sh student  alice bob ...
#   sudo deploy/jupyterhub/add_users.sh instructor carol ...
#
# Set a password (`passwd alice`) or use a hub authenticator that needs none (OAuth, LDAP).
# NN_COURSE_INSTRUCTORS / NN_COURSE_STUDENTS: the groups install.sh made (same defaults).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"  # useradd, usermod
INSTRUCTORS=${NN_COURSE_INSTRUCTORS:-nn-instructors}
STUDENTS=${NN_COURSE_STUDENTS:-nn-students}

if [ "$(id -u)" -ne 0 ] || [ $# -lt 2 ]; then
    echo "usage (as root): $0 student|instructor NAME..." >&2
    exit 2
fi
case "$1" in
    student) group=$STUDENTS ;;
    instructor) group=$INSTRUCTORS ;;
    *) echo "the first argument is student or instructor, not '$1'" >&2; exit 2 ;;
esac
shift
for name in "$@"; do
    if id -u "$name" >/dev/null 2>&1; then
        usermod -a -G "$group" "$name"
    else
        useradd --create-home --shell /bin/bash --groups "$group" "$name"
    fi
    home=$(getent passwd "$name" | cut -d: -f6)
    chmod 0700 "$home"
    echo "$name: $group, home $home (0700)"
done
if [ "$group" = "$INSTRUCTORS" ]; then
    echo "Restart the hub: it reads the $INSTRUCTORS group when it starts."
fi
