// The floor of a Linux container start (benches/linux.sh): what any runtime
// must do to start a program in a container of its own, and nothing else.
// A child in new mount, UTS, IPC, network, PID and cgroup namespaces mounts
// an overlay of LOWER (upper and work dirs made under BASE for this run and
// removed after it; volatile, as for `run --rm`), pivots into it, mounts
// /proc and execs PROG; the parent reaps it. No cgroups, seccomp, capabilities, /dev or state files: those
// are what a runtime adds above the floor.
//
// Usage: floor LOWER BASE PROG
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ftw.h>
static char *lower,*prog;
static char base[256];
static int rm_one(const char*p,const struct stat*s,int f,struct FTW*w){return remove(p);}
static char stack[1<<16];
static int child(void*a){
  char upper[512],work[512],merged[512],opts[2048];
  snprintf(upper,512,"%s/upper",base);snprintf(work,512,"%s/work",base);snprintf(merged,512,"%s/merged",base);
  if(mount(NULL,"/",NULL,MS_REC|MS_SLAVE,NULL))return perror("slave"),1;
  snprintf(opts,2048,"lowerdir=%s,upperdir=%s,workdir=%s,volatile",lower,upper,work);
  if(mount("overlay",merged,"overlay",0,opts))return perror("overlay"),1;
  if(chdir(merged))return 1;
  if(syscall(SYS_pivot_root,".","."))return perror("pivot"),1;
  if(umount2(".",MNT_DETACH))return perror("umount"),1;
  mkdir("/proc",0555);
  if(mount("proc","/proc","proc",MS_NOSUID|MS_NODEV|MS_NOEXEC,NULL))return perror("proc"),1;
  char*argv[]={prog,NULL};char*envp[]={"PATH=/bin",NULL};
  execve(prog,argv,envp);perror("exec");return 127;
}
int main(int c,char**v){
  if(c!=4)return fprintf(stderr,"usage: floor LOWER BASE PROG\n"),2;
  lower=v[1];prog=v[3];
  snprintf(base,sizeof base,"%s/run-%d",v[2],getpid());
  if(mkdir(base,0755))return perror("mkdir"),1;
  char p[512];
  snprintf(p,512,"%s/upper",base);mkdir(p,0755);
  snprintf(p,512,"%s/work",base);mkdir(p,0755);
  snprintf(p,512,"%s/merged",base);mkdir(p,0755);
  int pid=clone(child,stack+sizeof stack,CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWNET|CLONE_NEWPID|CLONE_NEWCGROUP|SIGCHLD,NULL);
  if(pid<0)return perror("clone"),1;
  int st;waitpid(pid,&st,0);
  // The overlay went with the child's mount namespace.
  nftw(base,rm_one,16,FTW_DEPTH|FTW_PHYS);
  return WIFEXITED(st)?WEXITSTATUS(st):1;
}
