"""The session side: redeem a launch, combine the server's and the keeper's halves, write files and env."""
