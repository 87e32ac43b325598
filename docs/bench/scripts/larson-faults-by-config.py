import subprocess, resource, os, re
so=os.environ.get('HAKMEM_SO', os.getcwd() + '/target/release/libhakmem.so')
cfgs=[('minimal',{}),('fast',{'HAKMEM_MODE':'fast'}),('minimal+ELO',{'HAKMEM_ELO':'1'}),('minimal+SITE_RULES',{'HAKMEM_SITE_RULES':'1'}),
('minimal+THP',{'HAKMEM_THP':'1'}),('minimal-BIGCACHE',{'HAKMEM_BIGCACHE':'0'}),('minimal-BATCH_MADVISE',{'HAKMEM_BATCH_MADVISE':'0'})]
for t in (1,4):
  for name,extra in cfgs:
    env={'PATH':os.environ['PATH'],'HAKMEM_MODE':'minimal','LD_PRELOAD':so}; env.update(extra)
    r0=resource.getrusage(resource.RUSAGE_CHILDREN)
    out=subprocess.run([os.getcwd() + '/target/bench-bin/larson','2','8','1024','10000','1','12345',str(t)],env=env,capture_output=True,text=True).stdout
    r1=resource.getrusage(resource.RUSAGE_CHILDREN)
    ops=int(re.search(r'operations = (\d+)',out).group(1))
    flt=r1.ru_minflt-r0.ru_minflt; sys_t=r1.ru_stime-r0.ru_stime; usr=r1.ru_utime-r0.ru_utime
    print('%-22s T=%d faults/Mop=%7.1f  sys share=%.3f' % (name,t,flt/ops*1e6, sys_t/(sys_t+usr)))
