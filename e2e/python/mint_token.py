# Your backend, after it has authenticated the user (session, login...):
# a short-lived token for roomcast, signed with the secret the server was
# started with (--jwt-secret or ROOMCAST_JWT_SECRET). pip install PyJWT
import os
import sys
import time

import jwt


def mint_roomcast_token(user_id):
    claims = {
        "sub": str(user_id),  # the socket's user (GET /api/sockets/:id shows it)
        "rooms": [f"user:{user_id}:*", "lobby"],  # rooms it may join itself (* = any run)
        "exp": int(time.time()) + 15 * 60,  # disconnected 15 minutes from now
    }
    return jwt.encode(claims, os.environ["ROOMCAST_JWT_SECRET"], algorithm="HS256")


# `python mint_token.py 42` prints a token for user 42.
if __name__ == "__main__":
    print(mint_roomcast_token(sys.argv[1]))
