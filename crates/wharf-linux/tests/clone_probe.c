#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
int main(void) {
    long r = syscall(SYS_clone, (long)(SIGCHLD), 0L, 0L, 0L, 0L);
    if (r == 0) _exit(0);
    printf("plain clone: %s\n", r > 0 ? "ok" : strerror(errno));
    if (r > 0) waitpid(r, 0, 0);
    r = syscall(SYS_clone, (long)(CLONE_NEWUSER | SIGCHLD), 0L, 0L, 0L, 0L);
    if (r == 0) _exit(0);
    printf("userns clone: %s\n", r > 0 ? "ok" : strerror(errno));
    if (r > 0) waitpid(r, 0, 0);
    return 0;
}
